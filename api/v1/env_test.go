package v1_test

import (
	"context"
	"maps"
	"strings"
	"testing"

	"github.com/skypanel/paas/api/openapi"
	v1 "github.com/skypanel/paas/api/v1"
)

func TestEnv(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx := context.Background()
	a := f.createApp(f.alice.token, "web", map[string]any{"image": "nginx", "env": map[string]any{"A": "1", "B": "2"}})
	env := func(r *res) map[string]string {
		var e openapi.EnvVars
		r.want(200).decode(&e)
		return e.Env
	}

	if got := env(f.do(f.alice.token, "GET", "/api/paas/apps/web/env", nil)); !maps.Equal(got, map[string]string{"A": "1", "B": "2"}) {
		t.Fatalf("env = %v", got)
	}

	// PUT replaces everything.
	secret := "s3cr3t value with \"quotes\"\nand a newline"
	if got := env(f.do(f.alice.token, "PUT", "/api/paas/apps/web/env", map[string]any{"env": map[string]any{"B": "two", "SECRET": secret}})); !maps.Equal(got, map[string]string{"B": "two", "SECRET": secret}) {
		t.Fatalf("after put: %v", got)
	}
	app, _ := f.s.GetApp(ctx, a.Id)
	if app.Generation <= a.Status.Generation {
		t.Fatal("an env change did not bump the generation")
	}
	// Sealed at rest.
	var leaked int
	if err := f.s.Pool.QueryRow(ctx, "SELECT count(*) FROM paas_env_vars WHERE position(convert_to('s3cr3t', 'UTF8') in value_encrypted) > 0").Scan(&leaked); err != nil || leaked != 0 {
		t.Fatalf("plaintext at rest: %d %v", leaked, err)
	}
	// The same values again write nothing.
	f.do(f.alice.token, "PUT", "/api/paas/apps/web/env", map[string]any{"env": map[string]any{"B": "two", "SECRET": secret}}).want(200)
	if again, _ := f.s.GetApp(ctx, a.Id); again.Version != app.Version {
		t.Fatal("an unchanged env was written")
	}

	t.Run("rejections", func(t *testing.T) {
		f := f.on(t)
		before := f.state()
		p := f.do(f.alice.token, "PUT", "/api/paas/apps/web/env", map[string]any{"env": map[string]any{"PORT": "1", "ok": "x", "GOOD": strings.Repeat("v", 16<<10+1)}}).problem(422, "validation-failed")
		fieldErr(t, p, "env.PORT")
		fieldErr(t, p, "env.ok")
		fieldErr(t, p, "env.GOOD")
		f.do(f.alice.token, "PUT", "/api/paas/apps/web/env", map[string]any{}).problem(422, "validation-failed")
		f.do(f.alice.token, "PUT", "/api/paas/apps/web/env", map[string]any{"env": map[string]any{"A": nil}}).problem(422, "validation-failed")
		f.do(f.alice.token, "PUT", "/api/paas/apps/web/env", map[string]any{"vars": map[string]any{}}).problem(400, "malformed-request")
		f.do(f.alice.token, "DELETE", "/api/paas/apps/web/env/NOPE", nil).problem(404, "not-found")
		f.do(f.alice.token, "POST", "/api/paas/apps/web/env/import", raw{"text/plain", "GOOD=1\nthis is not a line\nPORT=80\n"}).problem(422, "validation-failed")
		f.do(f.alice.token, "POST", "/api/paas/apps/web/env/import", raw{"application/json", `{"A":"1"}`}).problem(415, "unsupported-media-type")
		if f.state() != before {
			t.Fatal("refused env writes changed state")
		}
	})
	t.Run("delete one", func(t *testing.T) {
		f := f.on(t)
		f.do(f.alice.token, "DELETE", "/api/paas/apps/web/env/B", nil).want(204)
		if got := env(f.do(f.alice.token, "GET", "/api/paas/apps/web/env", nil)); !maps.Equal(got, map[string]string{"SECRET": secret}) {
			t.Fatalf("after delete: %v", got)
		}
	})
	t.Run("import merges, or replaces", func(t *testing.T) {
		f := f.on(t)
		text := "# comment\n\nexport DB_URL=postgres://u:p@h/db\nQUOTED=\"a \\\"b\\\"\\nc\"\nSINGLE='$NOT_EXPANDED #kept'\nBARE=value # trailing comment\nMULTI=\"line1\nline2\"\n"
		got := env(f.do(f.alice.token, "POST", "/api/paas/apps/web/env/import", raw{"text/plain; charset=utf-8", text}))
		want := map[string]string{"SECRET": secret, "DB_URL": "postgres://u:p@h/db", "QUOTED": "a \"b\"\nc",
			"SINGLE": "$NOT_EXPANDED #kept", "BARE": "value", "MULTI": "line1\nline2"}
		if !maps.Equal(got, want) {
			t.Fatalf("after import:\n got %q\nwant %q", got, want)
		}
		got = env(f.do(f.alice.token, "POST", "/api/paas/apps/web/env/import?replace=true", raw{"text/plain", "ONLY=1\n"}))
		if !maps.Equal(got, map[string]string{"ONLY": "1"}) {
			t.Fatalf("after replace: %v", got)
		}
	})
	t.Run("export reads back", func(t *testing.T) {
		f := f.on(t)
		vals := map[string]string{"A": "plain", "B": "with \"quotes\" and $dollar and `ticks`", "C": "multi\nline\ttab", "D": "", "E": "back\\slash # hash"}
		f.do(f.alice.token, "PUT", "/api/paas/apps/web/env", map[string]any{"env": vals}).want(200)
		r := f.do(f.alice.token, "GET", "/api/paas/apps/web/env/export", nil).want(200)
		if !strings.HasPrefix(r.Header.Get("Content-Type"), "text/plain") || !strings.HasPrefix(string(r.Body), `A="plain"`) {
			t.Fatalf("export = %q", r.Body)
		}
		got := env(f.do(f.alice.token, "POST", "/api/paas/apps/web/env/import?replace=true", raw{"text/plain", string(r.Body)}))
		if !maps.Equal(got, vals) {
			t.Fatalf("round trip:\n got %q\nwant %q", got, vals)
		}
	})
	t.Run("audited without values", func(t *testing.T) {
		f := f.on(t)
		entries, _ := f.s.ListAudit(ctx, 100)
		actions := map[string]bool{}
		for _, e := range entries {
			actions[e.Action] = true
			if strings.Contains(string(e.Details), "s3cr3t") {
				t.Fatalf("audit entry carries a value: %s", e.Details)
			}
		}
		for _, a := range []string{"env.put", "env.delete", "env.import"} {
			if !actions[a] {
				t.Errorf("no %s entry", a)
			}
		}
	})
}

func TestDotenvCodec(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		want map[string]string
		bad  bool
	}{
		{"A=1", map[string]string{"A": "1"}, false},
		{"A = 1 ", map[string]string{"A": "1"}, false},
		{"A=\"x\\ty\"", map[string]string{"A": "x\ty"}, false},
		{"A=\"unterminated", nil, true},
		{"A='unterminated", nil, true},
		{"A=\"x\" junk", nil, true},
		{"=1", nil, true},
		{"A=1\nA=2", nil, true},
		{"\r\nA=1\r\n", map[string]string{"A": "1"}, false},
		{"\xff=1", nil, true},
	} {
		got, errs := v1.ParseDotenv(tc.in)
		if tc.bad != (len(errs) > 0) || (!tc.bad && !maps.Equal(got, tc.want)) {
			t.Errorf("%q: got %v %v", tc.in, got, errs)
		}
	}
}

func FuzzDotenvRoundTrip(f *testing.F) {
	f.Add("a", "b\n\"c\"")
	f.Add("", "$x `y` \\z")
	f.Fuzz(func(t *testing.T, a, b string) {
		if !validUTF8(a) || !validUTF8(b) {
			return // env values are UTF-8: the API refuses anything else
		}
		in := map[string]string{"A": a, "B": b}
		got, errs := v1.ParseDotenv(v1.FormatDotenv(in))
		if len(errs) > 0 {
			t.Fatalf("%q: %v", v1.FormatDotenv(in), errs)
		}
		if !maps.Equal(got, in) {
			t.Fatalf("round trip of %q gave %q", in, got)
		}
	})
}
