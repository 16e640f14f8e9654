package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/skypanel/paas/api/client"
)

func TestEveryCommandHasHelpAndExamples(t *testing.T) {
	a := &app{IO: IO{Getenv: func(string) string { return "" }}}
	root := a.rootCmd()
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if c.Hidden {
			return
		}
		if c.Short == "" || c.Example == "" {
			t.Errorf("%q lacks a short description or examples", c.CommandPath())
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
}

func app1(version int, status client.DeploymentStatus, msg string) *client.Deployment {
	return &client.Deployment{Version: version, Status: status, Message: msg}
}

func TestEvaluateRollout(t *testing.T) {
	mk := func(gen, obs int64, running, desired int, conds ...client.Condition) *client.App {
		return &client.App{Name: "web", Status: client.AppStatus{Generation: gen, ObservedGeneration: obs,
			RunningReplicas: running, DesiredReplicas: desired, Conditions: conds}}
	}
	degraded := func(reason string) client.Condition {
		return client.Condition{Type: "Degraded", Status: client.True, Reason: reason, Message: "image nope:1 not found"}
	}
	deleting := mk(2, 2, 1, 1)
	deleting.DeletedAt = &time.Time{}
	cases := []struct {
		name   string
		app    *client.App
		latest *client.Deployment
		state  rolloutState
		msg    string
	}{
		{"spec not observed yet", mk(3, 2, 1, 1), app1(1, client.Deployed, ""), rolloutWaiting, "waiting for the platform to act on the new spec (generation 3)"},
		{"stale failure of an older release", mk(3, 2, 1, 1, degraded("RolloutFailed")), app1(2, client.Failed, "x"), rolloutWaiting, "waiting for the platform"},
		{"blocked spec", mk(3, 2, 1, 1, degraded("ImageNotFound")), app1(1, client.Deployed, ""), rolloutBlocked, "ImageNotFound: image nope:1 not found"},
		{"no release yet", mk(1, 1, 0, 1), nil, rolloutWaiting, "waiting for the first release"},
		{"rolling out", mk(2, 2, 1, 2), app1(2, client.Deploying, ""), rolloutWaiting, "release 2 rolling out: 1/2 replicas running"},
		{"start-first overlap", mk(2, 2, 4, 2), app1(2, client.Deploying, ""), rolloutWaiting, "release 2 rolling out: 4 tasks running for 2 replicas"},
		{"deployed", mk(2, 2, 2, 2), app1(2, client.Deployed, ""), rolloutDone, "release 2 deployed: 2/2 replicas running"},
		{"deployed, scaling up", mk(3, 3, 2, 3), app1(2, client.Deployed, ""), rolloutWaiting, "release 2 deployed, scaling: 2/3 replicas running"},
		{"deployed, old tasks stopping", mk(3, 3, 3, 2), app1(2, client.Deployed, ""), rolloutWaiting, "release 2 deployed, old tasks stopping"},
		{"deployed, still progressing", mk(3, 3, 2, 2, client.Condition{Type: "Progressing", Status: client.True, Message: "2/2 replicas running, restarting"}),
			app1(2, client.Deployed, ""), rolloutWaiting, "release 2 deployed, 2/2 replicas running, restarting"},
		{"stopped", mk(4, 4, 0, 0), app1(2, client.Deployed, ""), rolloutDone, "release 2 deployed: 0/0 replicas running"},
		{"failed", mk(2, 2, 1, 1, degraded("RolloutFailed")), app1(2, client.Failed, "Update failed, rolling back: task: non-zero exit (1)"), rolloutFailed,
			"release 2 failed: Update failed, rolling back: task: non-zero exit (1)"},
		{"deleting", deleting, app1(2, client.Deployed, ""), rolloutFailed, "the app is being deleted"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			state, msg := evaluateRollout(c.app, c.latest)
			if state != c.state || !strings.Contains(msg, c.msg) {
				t.Fatalf("got %d %q, want %d %q", state, msg, c.state, c.msg)
			}
		})
	}
}

func TestRollbackTarget(t *testing.T) {
	ds := func(items ...*client.Deployment) []client.Deployment {
		var out []client.Deployment
		for _, d := range items {
			out = append(out, *d)
		}
		return out
	}
	withCurrent := func(v int) *client.App {
		return &client.App{Name: "web", Status: client.AppStatus{CurrentDeployment: &client.DeploymentRef{Version: v}}}
	}
	cases := []struct {
		name string
		app  *client.App
		ds   []client.Deployment
		want int
		err  string
	}{
		{"previous deployed", withCurrent(3), ds(app1(3, client.Deployed, ""), app1(2, client.Failed, ""), app1(1, client.Deployed, "")), 1, ""},
		{"newest failed: the serving one", withCurrent(2), ds(app1(3, client.Failed, ""), app1(2, client.Deployed, ""), app1(1, client.Deployed, "")), 2, ""},
		{"skips superseded", withCurrent(4), ds(app1(4, client.Deployed, ""), app1(3, client.Superseded, ""), app1(2, client.Deployed, "")), 2, ""},
		{"nothing older", withCurrent(1), ds(app1(1, client.Deployed, "")), 0, "no deployed release before release 1"},
		{"no release", withCurrent(1), nil, 0, "no release yet"},
	}
	for _, c := range cases {
		got, err := rollbackTarget(c.app, c.ds)
		if got != c.want || (c.err == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), c.err)) {
			t.Errorf("%s: got %d, %v; want %d, %q", c.name, got, err, c.want, c.err)
		}
	}
}

func TestNormalizeServer(t *testing.T) {
	for in, want := range map[string]string{
		"127.0.0.1:8080":             "http://127.0.0.1:8080",
		"localhost:8080/":            "http://localhost:8080",
		"paas.example.com":           "https://paas.example.com",
		"https://paas.example.com/x": "https://paas.example.com/x",
		"http://[::1]:8080":          "http://[::1]:8080",
	} {
		if got, err := normalizeServer(in); err != nil || got != want {
			t.Errorf("normalizeServer(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "ftp://x", "http://"} {
		if _, err := normalizeServer(bad); err == nil {
			t.Errorf("normalizeServer(%q) accepted", bad)
		}
	}
}

func TestJWTExpiry(t *testing.T) {
	tok := "eyJhbGciOiJIUzI1NiJ9.eyJleHAiOjE3MDAwMDAwMDB9.sig"
	if exp := jwtExpiry(tok); exp == nil || exp.Unix() != 1700000000 {
		t.Fatalf("exp %v", exp)
	}
	if jwtExpiry("paas_abcdef") != nil {
		t.Fatal("API tokens have no local expiry")
	}
}

// fakeAPI is a tiny stand-in for paasd's app routes, recording writes.
type fakeAPI struct {
	mu     sync.Mutex
	apps   map[string]*client.App
	writes []string
	// problem, when set, answers every request.
	problem *problemError
}

func (f *fakeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.problem != nil {
		w.Header().Set("Content-Type", "application/problem+json")
		w.WriteHeader(f.problem.Status)
		json.NewEncoder(w).Encode(f.problem)
		return
	}
	if r.Header.Get("Authorization") != "Bearer tok" {
		w.Header().Set("Content-Type", "application/problem+json")
		w.WriteHeader(401)
		io.WriteString(w, `{"type":"x","title":"Unauthorized","status":401,"detail":"the token is not valid"}`)
		return
	}
	name := strings.TrimPrefix(r.URL.Path, "/api/paas/apps/")
	body, _ := io.ReadAll(r.Body)
	if r.Method != http.MethodGet {
		f.writes = append(f.writes, r.Method+" "+r.URL.Path+" "+r.Header.Get("If-Match")+" "+string(body))
	}
	switch {
	case r.Method == http.MethodGet && f.apps[name] != nil:
		json.NewEncoder(w).Encode(f.apps[name])
	case r.Method == http.MethodGet:
		w.Header().Set("Content-Type", "application/problem+json")
		w.WriteHeader(404)
		io.WriteString(w, `{"type":"x","title":"Not found","status":404,"detail":"app not found"}`)
	case r.Method == http.MethodPost && r.URL.Path == "/api/paas/apps":
		var req client.CreateAppRequest
		json.Unmarshal(body, &req)
		a := &client.App{Name: req.Name, Version: 1, Spec: client.AppSpec{Image: ptrOr(req.Spec.Image), Replicas: 1, Port: 8080, Plan: "hobby"}}
		f.apps[req.Name] = a
		w.WriteHeader(201)
		json.NewEncoder(w).Encode(a)
	case r.Method == http.MethodPatch:
		json.NewEncoder(w).Encode(f.apps[name])
	}
}

func run(t *testing.T, srv *httptest.Server, stdin string, args ...string) (string, string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	home := t.TempDir()
	envs := map[string]string{"HOME": home, "PAAS_SERVER": srv.URL, "PAAS_TOKEN": "tok"}
	io := IO{In: strings.NewReader(stdin), Out: &out, Err: &errb, Getenv: func(k string) string { return envs[k] }}
	code := Main(context.Background(), args, io, "test")
	return out.String(), errb.String(), code
}

func TestApplyWritesOnlyDifferences(t *testing.T) {
	f := &fakeAPI{apps: map[string]*client.App{
		"web": {Name: "web", Version: 5, Spec: client.AppSpec{Image: "paas-testapp:v1", Replicas: 2, Port: 8080, Plan: "standard",
			Env: map[string]string{"A": "1"}}},
	}}
	srv := httptest.NewServer(f)
	defer srv.Close()
	file := filepath.Join(t.TempDir(), "apps.yaml")
	os.WriteFile(file, []byte("name: web\nspec:\n  image: paas-testapp:v1\n  replicas: 2\n  env: {A: '1'}\n---\nname: api\nspec: {image: paas-testapp:v1}\n"), 0o600)

	out, errs, code := run(t, srv, "", "apply", "-f", file)
	if code != 0 || out != "app/web unchanged\napp/api created\n" || errs != "" {
		t.Fatalf("apply: %d\n%s\n%s", code, out, errs)
	}
	if len(f.writes) != 1 || !strings.HasPrefix(f.writes[0], "POST /api/paas/apps ") {
		t.Fatalf("writes %q: an unchanged app must not be written", f.writes)
	}

	f.writes = nil
	out, _, code = run(t, srv, "name: web\nspec: {replicas: 3, env: {}}\n", "apply", "-f", "-")
	if code != 0 || out != "app/web configured: replicas 2 -> 3, env -A (a new release rolls out)\n" {
		t.Fatalf("apply from stdin: %d %q", code, out)
	}
	want := `PATCH /api/paas/apps/web "5" {"spec":{"env":{"A":null},"replicas":3}}`
	if len(f.writes) != 1 || f.writes[0] != want {
		t.Fatalf("writes %q, want %q", f.writes, want)
	}
}

func TestErrorsAreOneClearLine(t *testing.T) {
	f := &fakeAPI{apps: map[string]*client.App{}}
	srv := httptest.NewServer(f)
	defer srv.Close()

	_, errs, code := run(t, srv, "name: web\nspec: {image: a, replicas: 2, colour: blue}\n", "apply", "-f", "-")
	if code != 1 || errs != "error: <stdin>:2:31: unknown field \"colour\" in the spec of \"web\" (known: image, replicas, port, plan, command, health_check, stopped, env, domains, source)\n" {
		t.Fatalf("unknown field: %d %q", code, errs)
	}

	var out, eb bytes.Buffer
	code = Main(context.Background(), []string{"get", "apps"}, IO{In: strings.NewReader(""), Out: &out, Err: &eb,
		Getenv: func(k string) string { return map[string]string{"HOME": t.TempDir()}[k] }}, "test")
	if code != 1 || eb.String() != "error: no server configured: run `paasctl login --server URL` or set PAAS_SERVER\n" {
		t.Fatalf("no server: %d %q", code, eb.String())
	}

	envs := map[string]string{"HOME": t.TempDir(), "PAAS_SERVER": srv.URL, "PAAS_TOKEN": "wrong"}
	eb.Reset()
	code = Main(context.Background(), []string{"get", "apps"}, IO{Out: &out, Err: &eb, Getenv: func(k string) string { return envs[k] }}, "test")
	if code != 1 || eb.String() != "error: Unauthorized: the token is not valid (check PAAS_TOKEN)\n" {
		t.Fatalf("bad token: %d %q", code, eb.String())
	}

	// A validation problem: title and detail, then each field error.
	f.problem = &problemError{Status: 422, Type: "https://skypanel.dev/problems/validation-failed", Title: "Validation failed",
		Detail: "2 fields are invalid: spec.replicas, spec.env.PORT",
		Errors: []fieldError{{"spec.replicas", `plan "hobby" allows at most 1 replicas`}, {"spec.env.PORT", "PORT is reserved"}}}
	_, errs, code = run(t, srv, "", "scale", "web=5")
	want := "error: web: Validation failed: 2 fields are invalid: spec.replicas, spec.env.PORT\n" +
		"  spec.replicas: plan \"hobby\" allows at most 1 replicas\n  spec.env.PORT: PORT is reserved\n"
	if code != 1 || errs != want {
		t.Fatalf("problem:\n got %q\nwant %q", errs, want)
	}

	// Several organizations and none picked: the hint says how to pick.
	f.problem = &problemError{Status: 400, Title: "Organization required", Detail: "you belong to several organizations", Organizations: []string{"acme", "beta"}}
	_, errs, _ = run(t, srv, "", "get", "apps")
	if errs != "error: Organization required: you belong to several organizations (pick one with `paasctl orgs use SLUG` or --org: acme, beta)\n" {
		t.Fatalf("organization required: %q", errs)
	}
}

func TestLoginStoresServerAndToken(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/auth/login", func(w http.ResponseWriter, r *http.Request) {
		var req client.LoginRequest
		json.NewDecoder(r.Body).Decode(&req)
		if req.Email != "me@x.io" || req.Password != "pw" {
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(401)
			io.WriteString(w, `{"title":"Unauthorized","status":401}`)
			return
		}
		json.NewEncoder(w).Encode(client.LoginToken{Token: "jwt-token", TokenType: client.Bearer, ExpiresAt: time.Now().Add(time.Hour)})
	})
	mux.HandleFunc("GET /api/auth/me", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer jwt-token" {
			w.WriteHeader(401)
			return
		}
		json.NewEncoder(w).Encode(client.Me{User: client.User{Email: "me@x.io"}, AuthMethod: client.Jwt,
			Organizations: []client.MembershipSummary{{Slug: "acme", Name: "Acme", Role: client.RoleOwner}}})
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	home := t.TempDir()
	envs := map[string]string{"HOME": home}
	var out, errb bytes.Buffer
	code := Main(context.Background(), []string{"login", "--server", srv.URL}, IO{In: strings.NewReader("me@x.io\npw\n"), Out: &out, Err: &errb,
		Getenv: func(k string) string { return envs[k] }}, "test")
	if code != 0 || !strings.Contains(out.String(), "Logged in to "+srv.URL+" as me@x.io (organization acme).") {
		t.Fatalf("login: %d %q %q", code, out.String(), errb.String())
	}
	path := filepath.Join(home, ".config", "paasctl", "config.yaml")
	b, err := os.ReadFile(path)
	if err != nil || !strings.Contains(string(b), "token: jwt-token") || !strings.Contains(string(b), "organization: acme") {
		t.Fatalf("config: %s %v", b, err)
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v", st.Mode())
	}

	errb.Reset()
	code = Main(context.Background(), []string{"login", "--server", srv.URL}, IO{In: strings.NewReader("me@x.io\nnope\n"), Out: &out, Err: &errb,
		Getenv: func(k string) string { return envs[k] }}, "test")
	if code != 1 || errb.String() != "error: login failed: wrong email or password\n" {
		t.Fatalf("wrong password: %d %q", code, errb.String())
	}
}

// syncBuffer is a bytes.Buffer safe to read while a command writes it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestWatchResumesAndResets breaks a watch after its first event: paasctl
// resumes with Last-Event-ID, and when the server answers reset (it can no
// longer resume that far back) the whole list that follows is shown again.
func TestWatchResumesAndResets(t *testing.T) {
	app := `{"id":"6f1c9a9e-5f7e-4a51-9f55-0d4f6ad1b0a1","name":"web","organization_id":"6f1c9a9e-5f7e-4a51-9f55-0d4f6ad1b0a2",` +
		`"spec":{"image":"paas-testapp:v1","replicas":1,"port":8080,"plan":"hobby","env":{},"command":[]},` +
		`"status":{"phase":"Running","generation":1,"observed_generation":1,"running_replicas":1,"desired_replicas":1,"conditions":[],"urls":[],"status_seq":5},` +
		`"version":1,"restart_count":0,"created_at":"2026-11-26T12:00:00Z","updated_at":"2026-11-26T12:00:00Z"}`
	var mu sync.Mutex
	var resumedFrom []string
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/paas/watch", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		resumedFrom = append(resumedFrom, r.Header.Get("Last-Event-ID"))
		first := len(resumedFrom) == 1
		mu.Unlock()
		w.Header().Set("Content-Type", "text/event-stream")
		if first {
			io.WriteString(w, "id: 5\nevent: app\ndata: "+app+"\n\nevent: synced\ndata: {}\n\n")
			return // the connection breaks
		}
		io.WriteString(w, "event: reset\ndata: {\"reason\":\"too old\"}\n\nid: 9\nevent: app\ndata: "+app+"\n\nevent: synced\ndata: {}\n\n")
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()

	for _, format := range []string{"json", "table"} {
		t.Run(format, func(t *testing.T) {
			mu.Lock()
			resumedFrom = nil
			mu.Unlock()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			var out, errb syncBuffer
			envs := map[string]string{"HOME": t.TempDir(), "PAAS_SERVER": srv.URL, "PAAS_TOKEN": "tok"}
			done := make(chan int)
			go func() {
				done <- Main(ctx, []string{"get", "apps", "-w", "-o", format}, IO{In: strings.NewReader(""), Out: &out, Err: &errb,
					Getenv: func(k string) string { return envs[k] }}, "test")
			}()
			// json: app, reset, app; table: the header and web's row twice
			// (after the reset the rows are printed afresh).
			deadline := time.Now().Add(10 * time.Second)
			for strings.Count(out.String(), "\n") < 3 {
				if time.Now().After(deadline) {
					t.Fatalf("output so far %q, errors %q", out.String(), errb.String())
				}
				time.Sleep(10 * time.Millisecond)
			}
			cancel()
			<-done
			lines := strings.Split(strings.TrimSpace(out.String()), "\n")
			if format == "table" {
				if len(lines) != 3 || !strings.HasPrefix(lines[0], "NAME") || !strings.HasPrefix(lines[1], "web ") || !strings.HasPrefix(lines[2], "web ") {
					t.Fatalf("table %q, want the header and web twice", lines)
				}
			} else {
				var types []string
				for _, line := range lines {
					var m struct {
						Type string `json:"type"`
					}
					if err := json.Unmarshal([]byte(line), &m); err != nil {
						t.Fatalf("line %q: %v", line, err)
					}
					types = append(types, m.Type)
				}
				if strings.Join(types, ",") != "app,reset,app" {
					t.Fatalf("printed %v, want app, reset, app", types)
				}
			}
			mu.Lock()
			defer mu.Unlock()
			if len(resumedFrom) < 2 || resumedFrom[0] != "" || resumedFrom[1] != "5" {
				t.Fatalf("Last-Event-ID per connection %q, want \"\" then 5", resumedFrom)
			}
		})
	}
}

// TestWatchStopsWhenTheServerEndsTheStream: a stream ended with event end
// (the token was revoked or expired) is not resumed with the same token:
// paasctl exits at once with the server's reason, after one connection.
func TestWatchStopsWhenTheServerEndsTheStream(t *testing.T) {
	var mu sync.Mutex
	connections := 0
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/paas/watch", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		connections++
		mu.Unlock()
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, "event: synced\ndata: {}\n\n"+
			`event: end`+"\n"+`data: {"type":"https://skypanel.dev/problems/unauthorized","title":"Unauthorized","status":401,"detail":"the token was revoked: the stream ended with it"}`+"\n\n")
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	_, stderr, code := run(t, srv, "", "get", "apps", "-w")
	if code == 0 || !strings.Contains(stderr, "the token was revoked") || !strings.Contains(stderr, "log in again") {
		t.Errorf("exit %d, stderr %q; want a failure naming the server's reason", code, stderr)
	}
	mu.Lock()
	defer mu.Unlock()
	if connections != 1 {
		t.Errorf("%d connections: paasctl reconnected with a credential the server refused", connections)
	}
}

// ptrOr is *p, or "" for nil.
func ptrOr(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}
