package v1_test

import (
	"bytes"
	"context"
	"io"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/skypanel/paas/api/problem"
	v1 "github.com/skypanel/paas/api/v1"
)

// checkFuzzAnswer holds every answer to the fuzzers' rules: never a 5xx,
// a problem document for every refusal, and no stored change on refusal.
func checkFuzzAnswer(t *testing.T, f *fixture, r *res, before string) {
	t.Helper()
	if r.Code >= 500 {
		t.Fatalf("server error: %s", r)
	}
	if r.Code >= 400 {
		if ct := r.Header.Get("Content-Type"); ct != problem.ContentType {
			t.Fatalf("refusal without a problem document: %s (%s)", r, ct)
		}
		if after := f.state(); after != before {
			t.Fatalf("refused request changed state: %s\nbefore %s\nafter  %s", r, before, after)
		}
	}
}

func FuzzCreateApp(f *testing.F) {
	for _, seed := range []string{
		`{"name":"web","spec":{"image":"paas-testapp:v1"}}`,
		`{"name":"web","spec":{"image":"nginx:1.27","replicas":1,"port":8080,"plan":"hobby","env":{"A":"1","B_2":""},"command":["/bin/app","-x"],"stopped":false}}`,
		`{"name":"api","spec":{"image":"registry.example.com:5000/team/api@sha256:` + strings.Repeat("a", 64) + `","plan":"pro","replicas":10}}`,
		`{"name":"hc","spec":{"image":"nginx","health_check":{"path":"/health","interval_seconds":5,"timeout_seconds":2,"retries":3,"start_period_seconds":1}}}`,
		`{"name":"hc2","spec":{"image":"nginx","health_check":{"command":["/bin/true"]}}}`,
		`{"name":"x","spec":{"image":"nginx","health_check":null,"env":{"PORT":"1"}}}`,
		`{"name":"Bad","spec":{"image":"NGINX","replicas":-1,"port":0}}`,
		`{"name":"a","spec":{"image":"a","replicas":1e3,"port":"80"}}`,
		`{"name":"a","spec":{"image":"a","env":{"A":null,"a":"x"}}}`,
		`{"name":"a","spec":{"image":"a","command":[null,1,"\u0000"]}}`,
		`{"name":"a","spec":{"image":"a","extra":true}}`,
		`{"name":"a","spec":null}`,
		`{"name":null}`,
		`[]`, `null`, `"x"`, `{`, ``, `{"name":"a","spec":{}} trailing`,
		`{"name":"\u00e9","spec":{"image":"\ud800"}}`,
		`{"name":"a","spec":{"image":"a","plan":"business","replicas":20}}`,
		`{"name":"a","spec":{"image":"a","health_check":{"path":"/$(reboot)"}}}`,
	} {
		f.Add(seed)
	}
	fx := setup(f)
	fx.setSetting("max_apps_per_org", "0")
	fx.setSetting("max_deployments_per_hour", "0")
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, body string) {
		g := fx.on(t)
		before := g.state()
		r := g.do(g.alice.token, "POST", "/api/paas/apps", raw{"application/json", body})
		checkFuzzAnswer(t, g, r, before)
		if r.Code == 201 {
			a := r.app()
			if a.Spec.Replicas < 0 || a.Spec.Port < 1 || a.Spec.Plan == "" || a.Spec.Image == "" {
				t.Fatalf("accepted an invalid spec: %s", r.Body)
			}
			// Remove it as the reconciler would, so names stay free.
			if _, err := g.s.MarkAppDeleted(ctx, a.Id); err != nil {
				t.Fatal(err)
			}
			if _, err := g.s.DeleteAppRow(ctx, a.Id); err != nil {
				t.Fatal(err)
			}
		} else if r.Code >= 300 && r.Code != 400 && r.Code != 409 && r.Code != 413 && r.Code != 415 && r.Code != 422 {
			t.Fatalf("unexpected status: %s", r)
		}
	})
}

func FuzzPatchApp(f *testing.F) {
	for _, seed := range []string{
		`{}`,
		`{"spec":{}}`,
		`{"spec":{"replicas":3}}`,
		`{"spec":{"replicas":null,"port":null,"command":null,"plan":null}}`,
		`{"spec":{"image":"paas-testapp:v2","env":{"NEW":"x","OLD":null}}}`,
		`{"spec":{"health_check":{"path":"/h"}}}`,
		`{"spec":{"health_check":{"path":"/h","command":["x"]}}}`,
		`{"spec":{"health_check":null}}`,
		`{"spec":{"plan":"hobby","replicas":2}}`,
		`{"spec":{"plan":"nope"}}`,
		`{"spec":{"stopped":true}}`,
		`{"spec":{"stopped":"yes"}}`,
		`{"spec":{"env":{"PORT":"1"}}}`,
		`{"spec":{"env":null}}`,
		`{"spec":{"env":"A=1"}}`,
		`{"spec":{"image":null}}`,
		`{"spec":{"command":["a",null]}}`,
		`{"spec":{"replicas":1.0000000000000002}}`,
		`{"spec":{"replicas":99999999999999999999}}`,
		`{"spec":null}`,
		`{"spec":[]}`,
		`{"name":"other"}`,
		`{"status":{"phase":"Running"}}`,
		`{"spec":{"unknown":1}}`,
		`[]`, `null`, `{`, ``,
	} {
		f.Add(seed)
	}
	fx := setup(f)
	fx.setSetting("max_deployments_per_hour", "0")
	fx.createApp(fx.alice.token, "web", map[string]any{"image": "paas-testapp:v1", "plan": "pro", "replicas": 2,
		"env": map[string]any{"OLD": "1", "KEEP": "2"}, "health_check": map[string]any{"path": "/health"}})
	f.Fuzz(func(t *testing.T, body string) {
		g := fx.on(t)
		before := g.state()
		r := g.do(g.alice.token, "PATCH", "/api/paas/apps/web", raw{"application/merge-patch+json", body})
		checkFuzzAnswer(t, g, r, before)
		if r.Code == 200 {
			a := r.app()
			if a.Spec.Replicas < 0 || a.Spec.Replicas > 10 || a.Spec.Port < 1 || a.Spec.Image == "" || a.Id == uuid.Nil {
				t.Fatalf("accepted an invalid spec: %s", r.Body)
			}
		} else if r.Code != 400 && r.Code != 413 && r.Code != 415 && r.Code != 422 {
			t.Fatalf("unexpected status: %s", r)
		}
	})
}

// FuzzPathAndQuery feeds arbitrary app identifiers, cursors, limits and
// organization names: never a 5xx.
func FuzzPathAndQuery(f *testing.F) {
	f.Add("web", "", "10", "acme")
	f.Add("\x00", "AA", "0", "\xff")
	f.Add("00000000-0000-0000-0000-000000000000", "YWJj", "-1", "acme")
	fx := setup(f)
	fx.createApp(fx.alice.token, "web", map[string]any{"image": "nginx"})
	f.Fuzz(func(t *testing.T, ident, cursor, limit, org string) {
		g := fx.on(t)
		q := "?cursor=" + url.QueryEscape(cursor) + "&limit=" + url.QueryEscape(limit) + "&org=" + url.QueryEscape(org)
		for _, path := range []string{
			"/api/paas/apps" + q,
			"/api/paas/apps/" + url.PathEscape(ident) + q,
			"/api/paas/apps/" + url.PathEscape(ident) + "/deployments" + q,
			"/api/paas/apps/web/deployments/" + url.PathEscape(ident) + q,
			"/api/paas/apps/web/events" + q,
		} {
			if r := g.do(g.alice.token, "GET", path, nil); r.Code >= 500 {
				t.Fatalf("server error: %s", r)
			}
		}
	})
}

// FuzzEnvImport posts any text as a dotenv import: never a 5xx, a problem
// for every refusal with nothing changed, and the work of each request a
// small multiple of its body.
func FuzzEnvImport(f *testing.F) {
	for _, seed := range []string{
		"A=1\nexport B='two' # c\nC=\"x\\ny\"\n",
		"A=\"\n\n\n",
		"PORT=80\nlower=1\n",
		"A=\"x\" y\n=1\n'\n",
		"\xff=1",
		manyVars(300, 1),
	} {
		f.Add(seed, false)
	}
	fx := setup(f)
	fx.setSetting("max_deployments_per_hour", "0")
	fx.createApp(fx.alice.token, "web", map[string]any{"image": "nginx", "env": map[string]any{"KEEP": "1"}})
	f.Fuzz(func(t *testing.T, body string, replace bool) {
		g := fx.on(t)
		before := g.state()
		path := "/api/paas/apps/web/env/import"
		if replace {
			path += "?replace=true"
		}
		var r *res
		alloc := allocated(func() { r = g.do(g.alice.token, "POST", path, raw{"text/plain", body}) })
		checkFuzzAnswer(t, g, r, before)
		if r.Code != 200 && r.Code != 413 && r.Code != 422 {
			t.Fatalf("unexpected status: %s", r)
		}
		// The request's own cost (authentication, a transaction, the
		// contract check) is about a megabyte whatever the body.
		if limit := 16*uint64(len(body)) + 8<<20; alloc > limit {
			t.Fatalf("a body of %d bytes cost %d bytes of allocation", len(body), alloc)
		}
		if r.Code == 200 && replace {
			// Leave the app as it was for the next input.
			g.do(g.alice.token, "PUT", "/api/paas/apps/web/env", map[string]any{"env": map[string]any{"KEEP": "1"}}).want(200)
		}
	})
}

// FuzzAppLogs follows logs from any stream of frames: parts are split at
// '|', a part starting with "2>" goes to stderr, and each '@' stands for
// 16 KiB of text so lines over the 64 KiB limit are within the fuzzer's
// reach. Each stream's messages must be its lines, cut and marked past
// the limit, with CR and LF inside a line turned into data fields; a
// request allocates a small multiple of what it answers, however long the
// lines it reads.
func FuzzAppLogs(f *testing.F) {
	for _, seed := range []string{
		"one\ntw|o\n",
		"out |2>err |line\n|2>line\n",
		"a\rdata: evil\n|b\r\n",
		"@@@@@|x\nnext\n",
		"@@@@|\xc3|\xa9\n",
		"no newline",
	} {
		f.Add(seed)
	}
	var stream atomic.Pointer[[]byte]
	fx := setup(f, func(d *v1.Deps) {
		d.Docker = fakeLogs(func() io.Reader { return bytes.NewReader(*stream.Load()) })
	})
	fx.createApp(fx.alice.token, "web", map[string]any{"image": "nginx"})
	f.Fuzz(func(t *testing.T, in string) {
		var parts []string
		var text [2]strings.Builder // what each stream carries, stdout then stderr
		for _, p := range strings.Split(strings.ReplaceAll(in, "@", strings.Repeat("x", 16<<10)), "|") {
			parts = append(parts, p)
			if rest, ok := strings.CutPrefix(p, "2>"); ok {
				text[1].WriteString(rest)
			} else {
				text[0].WriteString(p)
			}
		}
		b := frames(parts...)
		stream.Store(&b)
		var events []wireEvent
		alloc := allocated(func() { events = readWire(t, fx.on(t), "/api/paas/apps/web/logs?follow=true") })
		if limit := 16*uint64(len(b)) + 8<<20; alloc > limit {
			t.Fatalf("following %d bytes of logs allocated %d", len(b), alloc)
		}
		var got [2][]string
		for i, ev := range events {
			switch {
			case ev.Event == "stdout":
				got[0] = append(got[0], ev.Data)
			case ev.Event == "stderr":
				got[1] = append(got[1], ev.Data)
			case ev.Event == "end" && i == len(events)-1:
			default:
				t.Fatalf("unexpected message %d: %+.200v", i, ev)
			}
		}
		for i, name := range []string{"stdout", "stderr"} {
			if want := expectedLogData(text[i].String()); !slices.Equal(got[i], want) {
				t.Fatalf("%s:\n got %.300q\nwant %.300q", name, got[i], want)
			}
		}
	})
}

// expectedLogData is the data of the messages a stream of text makes: a
// message per line (a last one without a newline included), a CR before
// the newline dropped, a line over 64 KiB cut there (to a whole UTF-8
// sequence) and marked, and CRs and CRLFs inside a line read as line breaks.
func expectedLogData(s string) []string {
	const limit = 64 << 10
	var out []string
	for s != "" {
		line, rest, _ := strings.Cut(s, "\n")
		s = rest
		if len(line) > limit {
			line = line[:limit]
			for i := len(line) - 1; i >= limit-utf8.UTFMax; i-- {
				if utf8.RuneStart(line[i]) {
					if !utf8.FullRuneInString(line[i:]) {
						line = line[:i]
					}
					break
				}
			}
			line += " [truncated]"
		} else {
			line = strings.TrimSuffix(line, "\r")
		}
		out = append(out, strings.NewReplacer("\r\n", "\n", "\r", "\n").Replace(line))
	}
	return out
}
