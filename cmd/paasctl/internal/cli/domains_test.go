package cli

import (
	"bytes"
	"context"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/skypanel/paas/api"
	v1 "github.com/skypanel/paas/api/v1"
	"github.com/skypanel/paas/store"
	"github.com/skypanel/paas/store/secret"
	"github.com/skypanel/paas/store/storetest"
)

// orgAPI serves the v1 API over a database of its own with one
// organization, acme, whose owner is owner@acme.io.
func orgAPI(t *testing.T) (session, *store.Store) {
	t.Helper()
	ctx := context.Background()
	s := storetest.New(t)
	box, err := secret.NewBox(bytes.Repeat([]byte{9}, 32))
	if err != nil {
		t.Fatal(err)
	}
	h, err := store.HashPassword("owner-password-1")
	if err != nil {
		t.Fatal(err)
	}
	u, err := s.CreateUser(ctx, store.CreateUserParams{Email: "owner@acme.io", PasswordHash: h})
	if err != nil {
		t.Fatal(err)
	}
	o, err := s.CreateOrganization(ctx, store.CreateOrganizationParams{Name: "Acme", Slug: "acme"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.AddMembership(ctx, store.AddMembershipParams{OrganizationID: o.ID, UserID: u.ID, Role: "owner"}); err != nil {
		t.Fatal(err)
	}
	a := v1.New(v1.Deps{Store: s, Box: box, JWTSecret: []byte("cli-test-jwt-secret-of-32-characters!"), Logger: zerolog.Nop()})
	srv := (&api.Server{Register: a.Register}).Handler(zerolog.Nop())
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	me := session{t, ts, t.TempDir()}
	me.login("owner@acme.io", "owner-password-1")
	return me, s
}

// domainRow reads what the loops see of a domain.
func domainRow(t *testing.T, s *store.Store, host string) (token string, requested *time.Time) {
	t.Helper()
	err := s.Pool.QueryRow(context.Background(), `SELECT verification_token, verify_requested_at FROM paas_domains WHERE hostname = $1`, host).
		Scan(&token, &requested)
	if err != nil {
		t.Fatalf("domain %s: %v", host, err)
	}
	return token, requested
}

// hostnames lists the hostnames stored for every app.
func hostnames(t *testing.T, s *store.Store) string {
	t.Helper()
	var out string
	if err := s.Pool.QueryRow(context.Background(), `SELECT coalesce(string_agg(hostname, ',' ORDER BY hostname), '') FROM paas_domains`).Scan(&out); err != nil {
		t.Fatal(err)
	}
	return out
}

type runResult struct {
	out, errs string
	code      int
}

// checkAfterRequest runs `domains verify --wait` and, as the domain loop
// would, records a check of the domain once the request is seen.
func checkAfterRequest(t *testing.T, me session, s *store.Store, host, status, lastError string) runResult {
	t.Helper()
	done := make(chan runResult, 1)
	go func() {
		out, errs, code := me.run("", "domains", "verify", "web", host, "--wait", "--timeout", "30s")
		done <- runResult{out, errs, code}
	}()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, req := domainRow(t, s, host); req != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("verify sent no request")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, err := s.Pool.Exec(context.Background(), `UPDATE paas_domains SET status = $2, last_error = $3,
		checked_at = greatest(now(), verify_requested_at + interval '1 millisecond') WHERE hostname = $1`, host, status, lastError); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-done:
		return r
	case <-time.After(20 * time.Second):
		t.Fatal("verify --wait did not see the check")
		return runResult{}
	}
}

func TestDomainsCommands(t *testing.T) {
	me, s := orgAPI(t)
	file := filepath.Join(t.TempDir(), "web.yaml")
	write := func(domains string) {
		if err := os.WriteFile(file, []byte("name: web\nspec:\n  image: paas-testapp:v1\n  domains: "+domains+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}

	// apply creates the app with its domains, then adds and removes.
	write("[www.example.com]")
	if out, errs, code := me.run("", "apply", "-f", file); code != 0 || out != "app/web created\n" {
		t.Fatalf("apply create: %d %q %q", code, out, errs)
	}
	write("[api.example.com, Bücher.example]")
	out, errs, code := me.run("", "apply", "-f", file)
	if code != 0 || out != "app/web configured: domains +api.example.com +xn--bcher-kva.example -www.example.com\n" {
		t.Fatalf("apply change: %d %q %q", code, out, errs)
	}
	if got := hostnames(t, s); got != "api.example.com,xn--bcher-kva.example" {
		t.Fatalf("stored %q", got)
	}
	if out, errs, code := me.run("", "apply", "-f", file); code != 0 || out != "app/web unchanged\n" {
		t.Fatalf("apply again: %d %q %q", code, out, errs)
	}

	// add prints the record to create.
	out, errs, code = me.run("", "domains", "add", "web", "WWW.Example.com")
	token, _ := domainRow(t, s, "www.example.com")
	want := "domain/www.example.com added to web (pending)\n" +
		"Create this DNS record, then run `paasctl domains verify web www.example.com --wait`:\n" +
		`  _paas-verify.www.example.com  TXT  "paas-verify=` + token + "\"\n"
	if code != 0 || out != want {
		t.Fatalf("add: %d\n%s\nwant\n%s%s", code, out, want, errs)
	}
	if _, errs, code := me.run("", "domains", "add", "web", "a_b.example.com"); code != 1 || !strings.Contains(errs, `"a_b.example.com" is not a hostname`) {
		t.Fatalf("add invalid: %d %q", code, errs)
	}
	if _, errs, code := me.run("", "domains", "add", "web", "www.example.com"); code != 1 || !strings.Contains(errs, "already has the domain") {
		t.Fatalf("add twice: %d %q", code, errs)
	}

	out, errs, code = me.run("", "domains", "list", "web")
	if code != 0 || !strings.Contains(out, "HOSTNAME") || !strings.Contains(out, "www.example.com") || !strings.Contains(out, "pending") ||
		strings.Count(out, "\n") != 4 {
		t.Fatalf("list: %d %q %q", code, out, errs)
	}

	// verify without --wait only asks.
	if out, errs, code := me.run("", "domains", "verify", "web", "api.example.com"); code != 0 || !strings.Contains(out, "check requested") {
		t.Fatalf("verify: %d %q %q", code, out, errs)
	}
	if _, err := s.Pool.Exec(context.Background(), `UPDATE paas_domains SET verify_requested_at = NULL`); err != nil {
		t.Fatal(err)
	}
	r := checkAfterRequest(t, me, s, "www.example.com", "verified", "")
	if r.code != 0 || r.out != "domain/www.example.com verified (routing follows)\n" {
		t.Fatalf("verify --wait: %+v", r)
	}
	r = checkAfterRequest(t, me, s, "api.example.com", "failed", "no TXT record at _paas-verify.api.example.com")
	if r.code != 1 || !strings.Contains(r.out, "not verified (failed): no TXT record at _paas-verify.api.example.com") ||
		!strings.Contains(r.out, `_paas-verify.api.example.com TXT "paas-verify=`) {
		t.Fatalf("verify --wait, failed: %+v", r)
	}
	// Without a domain loop, --wait gives up at the timeout.
	if _, errs, code := me.run("", "domains", "verify", "web", "api.example.com", "--wait", "--timeout", "1ms"); code != 1 || !strings.Contains(errs, "no check within 1ms") {
		t.Fatalf("verify timeout: %d %q", code, errs)
	}

	if out, errs, code := me.run("", "domains", "rm", "web", "Bücher.example"); code != 0 || out != "domain/xn--bcher-kva.example removed from web\n" {
		t.Fatalf("rm: %d %q %q", code, out, errs)
	}
	if _, errs, code := me.run("", "domains", "rm", "web", "nope.example.com"); code != 1 || !strings.Contains(errs, "has no domain") {
		t.Fatalf("rm unknown: %d %q", code, errs)
	}
	if got := hostnames(t, s); got != "api.example.com,www.example.com" {
		t.Fatalf("stored %q", got)
	}
	// The file now differs: apply puts its set back.
	if out, errs, code := me.run("", "apply", "-f", file); code != 0 || out != "app/web configured: domains +xn--bcher-kva.example -www.example.com\n" {
		t.Fatalf("apply back: %d %q %q", code, out, errs)
	}
}
