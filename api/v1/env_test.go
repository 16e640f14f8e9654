package v1_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"regexp"
	"runtime"
	"runtime/metrics"
	"strings"
	"testing"
	"time"

	"github.com/skypanel/paas/api/openapi"
	"github.com/skypanel/paas/api/problem"
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
	ctx := context.Background()
	for _, tc := range []struct {
		in   string
		want map[string]string
		bad  bool
	}{
		{"A=1", map[string]string{"A": "1"}, false},
		{"A = 1 ", map[string]string{"A": "1"}, false},
		{"  export   A=1", map[string]string{"A": "1"}, false},
		{"A=\"x\\ty\"", map[string]string{"A": "x\ty"}, false},
		{"A=\"x\" # comment", map[string]string{"A": "x"}, false},
		{"A='x' #c\nB=2", map[string]string{"A": "x", "B": "2"}, false},
		{"A=\"x  \n  y\"\nB=2", map[string]string{"A": "x  \n  y", "B": "2"}, false},
		{"A=\"one\r\ntwo\"\r\nB=2\r\n", map[string]string{"A": "one\ntwo", "B": "2"}, false},
		{"A=\"x\\\ny\"", map[string]string{"A": "x\\\ny"}, false},
		{"A=\"unterminated", nil, true},
		{"A=\"unterminated\\", nil, true},
		{"A='unterminated", nil, true},
		{"A=\"x\" junk", nil, true},
		{"A='x' junk", nil, true},
		{"A=\"x\ny\" junk\nB=1", nil, true},
		{"=1", nil, true},
		{"A=1\nA=2", nil, true},
		{"\r\nA=1\r\n", map[string]string{"A": "1"}, false},
		{"\xff=1", nil, true},
		// Limits: the last accepted size, and one more.
		{"A=" + strings.Repeat("v", 16<<10), map[string]string{"A": strings.Repeat("v", 16<<10)}, false},
		{"A=" + strings.Repeat("v", 16<<10+1), nil, true},
		{`A="` + strings.Repeat(`\n`, 16<<10) + `"`, map[string]string{"A": strings.Repeat("\n", 16<<10)}, false},
		{`A="` + strings.Repeat(`\n`, 16<<10+1) + `"`, nil, true},
		{"A='" + strings.Repeat("v", 16<<10+1) + "'", nil, true},
		{manyVars(256, 1), varsMap(256, 1), false},
		{manyVars(257, 1), nil, true},
		{"A=1" + strings.Repeat("\n#", 9999), map[string]string{"A": "1"}, false},
		{"A=1" + strings.Repeat("\n#", 10000), nil, true},
	} {
		got, errs, err := v1.ParseDotenv(ctx, tc.in)
		if err != nil {
			t.Fatal(err)
		}
		if tc.bad != (len(errs) > 0) || (!tc.bad && !maps.Equal(got, tc.want)) {
			t.Errorf("%.80q: got %.200v %v", tc.in, got, errs)
		}
	}
}

// varsMap is what manyVars(n, size) reads to.
func varsMap(n, size int) map[string]string {
	m := map[string]string{}
	for i := range n {
		m[fmt.Sprintf("V%d", i)] = strings.Repeat("v", size)
	}
	return m
}

// TestDotenvHostileWorkIsBounded parses each hostile body under a context
// that would stop a slow parse, and counts the bytes allocated: each must
// end with a field error on its own, having allocated a small multiple of
// its size (the old parser copied the growing value once per line: about
// 4 GiB for "quote spanning long lines"). Not parallel, so the allocation
// count is the parse's own.
func TestDotenvHostileWorkIsBounded(t *testing.T) {
	for _, tc := range hostileImports {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		var errs []problem.FieldError
		var err error
		alloc := allocated(func() { _, errs, err = v1.ParseDotenv(ctx, tc.body) })
		cancel()
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if len(errs) == 0 || errs[0].Field != tc.field || !strings.Contains(errs[0].Message, tc.message) {
			t.Errorf("%s: errors %v, want %s: %s", tc.name, errs, tc.field, tc.message)
		}
		if limit := 4*uint64(len(tc.body)) + 1<<20; alloc > limit {
			t.Errorf("%s: parsing %d KiB allocated %d KiB", tc.name, len(tc.body)>>10, alloc>>10)
		}
	}
}

// TestDotenvStopsWithTheContext: a parse whose request has ended gives up.
func TestDotenvStopsWithTheContext(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := v1.ParseDotenv(ctx, "A=1\n"); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

// allocated reports the bytes the process allocated on the heap while fn
// ran. (runtime.ReadMemStats stops the world to count exactly; the
// cheaper runtime/metrics count may go down across a collection.)
func allocated(fn func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	fn()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// roughlyAllocated is allocated without stopping the world, for fuzzers
// that run fn thousands of times a second (and many more while they
// minimize an input). runtime/metrics counts a span's free slots as
// allocated when the span is handed to an allocator, so the count may run
// ahead by up to a span per size class; a collection gives back the slots
// left unused, so ok is false when one ran during fn.
func roughlyAllocated(fn func()) (n uint64, ok bool) {
	s := []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}, {Name: "/gc/cycles/total:gc-cycles"}}
	metrics.Read(s)
	bytes, cycles := s[0].Value.Uint64(), s[1].Value.Uint64()
	fn()
	metrics.Read(s)
	if s[1].Value.Uint64() != cycles {
		return 0, false
	}
	return s[0].Value.Uint64() - bytes, true
}

func FuzzDotenvRoundTrip(f *testing.F) {
	f.Add("a", "b\n\"c\"")
	f.Add("", "$x `y` \\z")
	f.Add("\r\n \t#", "' # \\n \\")
	f.Add(strings.Repeat("\"\n", 4<<10), "é")
	f.Fuzz(func(t *testing.T, a, b string) {
		if !validUTF8(a) || !validUTF8(b) {
			return // env values are UTF-8: the API refuses anything else
		}
		in := map[string]string{"A": a, "B": b}
		text := v1.FormatDotenv(in)
		got, errs := parseBounded(t, text)
		if len(a) > 16<<10 || len(b) > 16<<10 {
			if len(errs) == 0 {
				t.Fatalf("a value over the limit was read back: %d and %d bytes", len(a), len(b))
			}
			return
		}
		if len(errs) > 0 {
			t.Fatalf("%q: %v", text, errs)
		}
		if !maps.Equal(got, in) {
			t.Fatalf("round trip of %q gave %q", in, got)
		}
	})
}

// FuzzDotenvParse parses any text: it never panics, allocates a small
// multiple of the text, accepts only what the limits allow, and what it
// accepts formats to text that parses back to the same variables. The text
// is head followed by n copies of unit, so small inputs (which the fuzzer
// can minimize quickly) make the long, repetitive texts that cost a
// careless parser most.
func FuzzDotenvParse(f *testing.F) {
	for _, seed := range []struct {
		head, unit string
		n          uint16
	}{
		{"A=1\nexport B='two' # c\nC=\"x\\ny\"\n", "", 0},
		{"# only\n\n", "", 0},
		{"A=\"x\" y\nB=\"\\\"\nC='\nD = e # f", "", 0},
		{"A=\"one\r\ntwo\"\r\n", "", 0},
		{"=\n=\"\n'", "", 0},
		{`A="`, "\n", 8000},
		{`A="`, `\"`, 9000},
		{"", "not a line\n", 100},
		{"", "A=1\n", 300},
		{"A=", "x", 17000},
	} {
		f.Add(seed.head, seed.unit, seed.n)
	}
	f.Fuzz(func(t *testing.T, head, unit string, n uint16) {
		text := head + strings.Repeat(unit, int(n))
		if len(text) > 1<<20 {
			return // over the request body limit
		}
		got, errs := parseBounded(t, text)
		if len(errs) > 51 {
			t.Fatalf("%d errors", len(errs))
		}
		if len(errs) > 0 {
			return
		}
		if len(got) > 256 {
			t.Fatalf("%d variables accepted", len(got))
		}
		for k, v := range got {
			if len(v) > 16<<10 {
				t.Fatalf("%s: a value of %d bytes accepted", k, len(v))
			}
		}
		// The parser reads any key; the handler then refuses those that
		// are not names. Names round-trip.
		for k := range got {
			if !envName.MatchString(k) {
				return
			}
		}
		again, errs, err := v1.ParseDotenv(context.Background(), v1.FormatDotenv(got))
		if err != nil || len(errs) > 0 || !maps.Equal(again, got) {
			t.Fatalf("%.300q read as %.300q, which reads back as %.300q %v", text, got, again, errs)
		}
	})
}

// parseBounded parses text, failing when that allocated more than a small
// multiple of it (plus a constant for the map and the runtime's way of
// counting). A text under 4 KiB cannot show a blow-up above that
// constant, so it is parsed without counting.
func parseBounded(t *testing.T, text string) (map[string]string, []problem.FieldError) {
	t.Helper()
	var got map[string]string
	var errs []problem.FieldError
	var err error
	parse := func() { got, errs, err = v1.ParseDotenv(context.Background(), text) }
	if len(text) < 4<<10 {
		parse()
	} else if alloc, ok := roughlyAllocated(parse); ok && alloc > 8*uint64(len(text))+1<<20 {
		t.Fatalf("parsing %d bytes allocated %d", len(text), alloc)
	}
	if err != nil {
		t.Fatal(err)
	}
	return got, errs
}

// envName is the key syntax the handler accepts.
var envName = regexp.MustCompile(`^[A-Z_][A-Z0-9_]*$`)

// hostileImports are dotenv bodies of the API's whole body limit (1 MiB)
// built to cost a parser as much as they can; each must be refused with a
// field-level problem naming what was over a limit.
var hostileImports = []struct {
	name, body, field, message string
}{
	// The report that started this: an unterminated quote followed by
	// newlines made the old parser re-read the value once per line.
	{"quote then newlines", `A="` + strings.Repeat("\n", 1<<20-3), "(body)", "at most 10000 lines"},
	// Under the line limit, a quoted value spanning thousands of lines.
	{"quote spanning long lines", `A="` + strings.Repeat(strings.Repeat("x", 127)+"\n", (1<<20-3)/128), "line 1", "value must be at most 16384 bytes"},
	{"unterminated quote", `A="` + strings.Repeat("x", 1<<20-3), "line 1", "value must be at most 16384 bytes"},
	{"escapes", `A="` + strings.Repeat(`\"`, (1<<20-3)/2), "line 1", "value must be at most 16384 bytes"},
	{"bare value", "A=" + strings.Repeat("x", 1<<20-2), "line 1", "value must be at most 16384 bytes"},
	{"too many variables", manyVars(300, 3000), "line 257", "more than 256 variables"},
	{"too many lines", strings.Repeat("#\n", 1<<19), "(body)", "at most 10000 lines"},
	{"not UTF-8", "A=" + strings.Repeat("\xff", 1<<20-2), "(body)", "must be UTF-8 text"},
}

// manyVars is n distinct variables with values of size bytes.
func manyVars(n, size int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "V%d=%s\n", i, strings.Repeat("v", size))
	}
	return b.String()
}

// TestEnvImportHostile posts every hostile body: each answers a 422 with a
// field error and changes nothing. The old parser needed about an hour for
// the first; this test would time out on it.
func TestEnvImportHostile(t *testing.T) {
	t.Parallel()
	f := setup(t)
	f.createApp(f.alice.token, "web", map[string]any{"image": "nginx", "env": map[string]any{"KEEP": "1"}})
	for _, tc := range hostileImports {
		t.Run(tc.name, func(t *testing.T) {
			f := f.on(t)
			if len(tc.body) > 1<<20 {
				t.Fatalf("a body of %d bytes is over the body limit", len(tc.body))
			}
			before := f.state()
			p := f.do(f.alice.token, "POST", "/api/paas/apps/web/env/import", raw{"text/plain", tc.body}).problem(422, "validation-failed")
			if e := fieldErr(t, p, tc.field); !strings.Contains(e.Message, tc.message) {
				t.Fatalf("%s: %q, want it to say %q", tc.field, e.Message, tc.message)
			}
			if f.state() != before {
				t.Fatal("a refused import changed state")
			}
		})
	}
	t.Run("syntax errors are capped", func(t *testing.T) {
		f := f.on(t)
		p := f.do(f.alice.token, "POST", "/api/paas/apps/web/env/import", raw{"text/plain", strings.Repeat("not a line\n", 5000)}).problem(422, "validation-failed")
		if len(p.Errors) == 0 || len(p.Errors) > 51 {
			t.Fatalf("%d field errors, want 1 to 51", len(p.Errors))
		}
		fieldErr(t, p, "line 1")
	})
	t.Run("a merge may not pass the variable limit", func(t *testing.T) {
		f := f.on(t)
		before := f.state()
		p := f.do(f.alice.token, "POST", "/api/paas/apps/web/env/import", raw{"text/plain", manyVars(256, 1)}).problem(422, "validation-failed")
		fieldErr(t, p, "env")
		if f.state() != before {
			t.Fatal("a refused import changed state")
		}
		// Replacing with the same 256 fits.
		f.do(f.alice.token, "POST", "/api/paas/apps/web/env/import?replace=true", raw{"text/plain", manyVars(256, 1)}).want(200)
	})
}

// BenchmarkEnvImportHostile posts each hostile 1 MiB body through the HTTP
// handler (authentication, body read, parse, refusal); every answer must be
// a 422.
func BenchmarkEnvImportHostile(b *testing.B) {
	f := setup(b)
	f.createApp(f.alice.token, "web", map[string]any{"image": "nginx"})
	c := f.srv.Client()
	for _, tc := range hostileImports {
		b.Run(strings.ReplaceAll(tc.name, " ", "_"), func(b *testing.B) {
			b.SetBytes(int64(len(tc.body)))
			b.ReportAllocs()
			for b.Loop() {
				req, _ := http.NewRequest("POST", f.srv.URL+"/api/paas/apps/web/env/import", strings.NewReader(tc.body))
				req.Header.Set("Content-Type", "text/plain")
				req.Header.Set("Authorization", "Bearer "+f.alice.token)
				resp, err := c.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusUnprocessableEntity {
					b.Fatalf("status %d, want 422", resp.StatusCode)
				}
			}
		})
	}
}
