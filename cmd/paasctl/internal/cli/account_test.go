package cli

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/skypanel/paas/api"
	v1 "github.com/skypanel/paas/api/v1"
	"github.com/skypanel/paas/store"
	"github.com/skypanel/paas/store/secret"
	"github.com/skypanel/paas/store/storetest"
)

// realAPI serves the v1 API over a database of its own, with a platform
// admin and a user, each able to log in with their password.
func realAPI(t *testing.T) *httptest.Server {
	t.Helper()
	s := storetest.New(t)
	box, err := secret.NewBox(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range []struct {
		email, password string
		admin           bool
	}{{"root@x.io", "root-password-1", true}, {"me@x.io", "my-password-1", false}} {
		h, err := store.HashPassword(u.password)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.CreateUser(context.Background(), store.CreateUserParams{Email: u.email, PasswordHash: h, IsAdmin: u.admin}); err != nil {
			t.Fatal(err)
		}
	}
	a := v1.New(v1.Deps{Store: s, Box: box, JWTSecret: []byte("cli-test-jwt-secret-of-32-characters!"), Logger: zerolog.Nop()})
	srv := httptest.NewServer((&api.Server{Register: a.Register}).Handler(zerolog.Nop()))
	t.Cleanup(srv.Close)
	return srv
}

// session runs paasctl as one person: a HOME (and so a configuration) of
// its own, against srv.
type session struct {
	t    *testing.T
	srv  *httptest.Server
	home string
}

func (s session) run(stdin string, args ...string) (string, string, int) {
	s.t.Helper()
	var out, errb bytes.Buffer
	envs := map[string]string{"HOME": s.home}
	code := Main(context.Background(), args, IO{In: strings.NewReader(stdin), Out: &out, Err: &errb,
		Getenv: func(k string) string { return envs[k] }}, "test")
	return out.String(), errb.String(), code
}

func (s session) login(email, password string) {
	s.t.Helper()
	if out, errs, code := s.run(email+"\n"+password+"\n", "login", "--server", s.srv.URL); code != 0 {
		s.t.Fatalf("login as %s: %d %s %s", email, code, out, errs)
	}
}

func (s session) token() string {
	s.t.Helper()
	b, err := os.ReadFile(filepath.Join(s.home, ".config", "paasctl", "config.yaml"))
	if err != nil {
		s.t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "token: "); ok {
			return v
		}
	}
	return ""
}

// TestPasswd: paasctl passwd changes the password and keeps this login
// going with the new login token the server answers.
func TestPasswd(t *testing.T) {
	srv := realAPI(t)
	me := session{t, srv, t.TempDir()}
	me.login("me@x.io", "my-password-1")
	other := session{t, srv, t.TempDir()}
	other.login("me@x.io", "my-password-1")
	before := me.token()

	if _, errs, code := me.run("my-password-1\nnew-password-22\nnew-password-2\n", "passwd"); code != 1 || !strings.Contains(errs, "differ") {
		t.Fatalf("mismatched new passwords: %d %q", code, errs)
	}
	_, errs, code := me.run("wrong\nnew-password-22\nnew-password-22\n", "passwd")
	if code != 1 || !strings.Contains(errs, "current_password: is not your current password") {
		t.Fatalf("wrong current password: %d %q", code, errs)
	}
	out, errs, code := me.run("my-password-1\nnew-password-22\nnew-password-22\n", "passwd")
	if code != 0 || !strings.Contains(out, "Password changed") || !strings.Contains(out, "this login carries on") {
		t.Fatalf("passwd: %d %q %q", code, out, errs)
	}
	if after := me.token(); after == before || after == "" {
		t.Fatal("the new login token was not stored")
	}
	if out, errs, code := me.run("", "whoami"); code != 0 || !strings.Contains(out, "me@x.io") {
		t.Fatalf("whoami after passwd: %d %q %q", code, out, errs)
	}
	// The other session has ended; the new password logs in.
	if _, errs, code := other.run("", "whoami"); code != 1 || !strings.Contains(errs, "Unauthorized") {
		t.Fatalf("the other session still works: %d %q", code, errs)
	}
	other.login("me@x.io", "new-password-22")
}

// TestAdminUsers: an admin lists users and disables one, whose login then
// stops working at once; enabled again, it logs in.
func TestAdminUsers(t *testing.T) {
	srv := realAPI(t)
	root := session{t, srv, t.TempDir()}
	root.login("root@x.io", "root-password-1")
	me := session{t, srv, t.TempDir()}
	me.login("me@x.io", "my-password-1")

	if out, errs, code := root.run("", "admin", "users", "disable", "me@x.io"); code != 0 || out != "user/me@x.io disabled\n" {
		t.Fatalf("disable: %d %q %q", code, out, errs)
	}
	if _, errs, code := me.run("", "whoami"); code != 1 || !strings.Contains(errs, "disabled") {
		t.Fatalf("a disabled user's login still works: %d %q", code, errs)
	}
	out, errs, code := root.run("", "admin", "users", "list")
	if code != 0 || !strings.Contains(out, "DISABLED") {
		t.Fatalf("list: %d %q %q", code, out, errs)
	}
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "me@x.io") && !strings.Contains(line, "yes") {
			t.Fatalf("list does not show me@x.io disabled: %q", out)
		}
	}
	if _, errs, code := me.run("", "admin", "users", "list"); code != 1 || !strings.Contains(errs, "Unauthorized") {
		t.Fatalf("a disabled non-admin listed users: %d %q", code, errs)
	}
	if out, errs, code := root.run("", "admin", "users", "enable", "me@x.io"); code != 0 || out != "user/me@x.io enabled\n" {
		t.Fatalf("enable: %d %q %q", code, out, errs)
	}
	me.login("me@x.io", "my-password-1")
	if _, errs, code := me.run("", "admin", "users", "disable", "root@x.io"); code != 1 || !strings.Contains(errs, "Forbidden") {
		t.Fatalf("a non-admin disabled a user: %d %q", code, errs)
	}
}

// TestEnvListShowsHiddenValues: a viewer's env answer has empty values
// marked redacted; env list says they are hidden rather than empty.
func TestEnvListShowsHiddenValues(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/paas/apps/web/env", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"env":{"DB_URL":"","MODE":""},"redacted":true}`)
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	out, errs, code := run(t, srv, "", "env", "list", "web")
	if code != 0 || !strings.Contains(out, "DB_URL   <hidden>") || !strings.Contains(errs, "values are hidden") {
		t.Fatalf("env list: %d %q %q", code, out, errs)
	}
}
