package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"
)

// envOf returns a getenv func backed by m.
func envOf(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func get(t *testing.T, h http.Handler, method, target string) *httptest.ResponseRecorder {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, target, nil))
	return rec
}

type rootBody struct {
	Version  string            `json:"version"`
	Hostname string            `json:"hostname"`
	Env      map[string]string `json:"env"`
}

func TestRootReportsVersionHostnameAndEnv(t *testing.T) {
	h := newHandler("v7", envOf(map[string]string{
		"ECHO_ENV": " FOO, BAR,,MISSING ",
		"FOO":      "bar",
		"BAR":      "baz=qux",
		"SECRET":   "not echoed",
	}))
	rec := get(t, h, http.MethodGet, "/")
	if rec.Code != http.StatusOK {
		t.Fatalf("status = %d, want 200", rec.Code)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q, want application/json", ct)
	}
	var body rootBody
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatalf("decode %q: %v", rec.Body, err)
	}
	wantHost, _ := os.Hostname()
	if body.Version != "v7" || body.Hostname != wantHost {
		t.Errorf("version, hostname = %q, %q; want v7, %q", body.Version, body.Hostname, wantHost)
	}
	want := map[string]string{"FOO": "bar", "BAR": "baz=qux", "MISSING": ""}
	if len(body.Env) != len(want) {
		t.Errorf("env = %v, want %v", body.Env, want)
	}
	for k, v := range want {
		if got, ok := body.Env[k]; !ok || got != v {
			t.Errorf("env[%q] = %q (present %v), want %q", k, got, ok, v)
		}
	}
}

func TestRootWithoutEchoEnvHasEmptyObject(t *testing.T) {
	rec := get(t, newHandler("dev", envOf(nil)), http.MethodGet, "/")
	if !strings.Contains(rec.Body.String(), `"env":{}`) {
		t.Errorf("body = %s, want an empty env object", rec.Body)
	}
}

func TestRoutes(t *testing.T) {
	h := newHandler("v1", envOf(nil))
	for _, tc := range []struct {
		method, target string
		want           int
	}{
		{http.MethodGet, "/nope", http.StatusNotFound},
		{http.MethodPost, "/", http.StatusMethodNotAllowed},
		{http.MethodHead, "/health", http.StatusOK},
	} {
		if got := get(t, h, tc.method, tc.target).Code; got != tc.want {
			t.Errorf("%s %s = %d, want %d", tc.method, tc.target, got, tc.want)
		}
	}
}

func TestHealth(t *testing.T) {
	for _, tc := range []struct {
		unhealthy string
		code      int
		body      string
	}{
		{"", http.StatusOK, "ok\n"},
		{"0", http.StatusOK, "ok\n"},
		{"1", http.StatusServiceUnavailable, "unhealthy\n"},
	} {
		h := newHandler("v1", envOf(map[string]string{"TESTAPP_UNHEALTHY": tc.unhealthy}))
		rec := get(t, h, http.MethodGet, "/health")
		if rec.Code != tc.code || rec.Body.String() != tc.body {
			t.Errorf("TESTAPP_UNHEALTHY=%q: got %d %q, want %d %q", tc.unhealthy, rec.Code, rec.Body, tc.code, tc.body)
		}
	}
}

func TestLogRequests(t *testing.T) {
	var out bytes.Buffer
	h := logRequests(log.New(&out, "", 0), newHandler("v1", envOf(map[string]string{"TESTAPP_UNHEALTHY": "1"})))
	get(t, h, http.MethodGet, "/health?probe=1")
	get(t, h, http.MethodGet, "/")
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("got %d log lines, want 2:\n%s", len(lines), out.String())
	}
	if !strings.HasPrefix(lines[0], "GET /health?probe=1 503 ") {
		t.Errorf("line 1 = %q", lines[0])
	}
	if !strings.HasPrefix(lines[1], "GET / 200 ") {
		t.Errorf("line 2 = %q", lines[1])
	}
}

func TestShouldCrash(t *testing.T) {
	for _, tc := range []struct {
		env, byDefault string
		want           bool
	}{
		{"", "false", false},
		{"", "", false},
		{"1", "false", true},
		{"true", "false", true},
		{"", "true", true},
		{"0", "true", false},
		{"false", "true", false},
		{"garbage", "true", false},
	} {
		if got := shouldCrash(tc.env, tc.byDefault); got != tc.want {
			t.Errorf("shouldCrash(%q, %q) = %v, want %v", tc.env, tc.byDefault, got, tc.want)
		}
	}
}

func TestHealthcheck(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/ok":
			io.WriteString(w, "ok")
		case "/nocontent":
			w.WriteHeader(http.StatusNoContent)
		case "/sick":
			w.WriteHeader(http.StatusServiceUnavailable)
		case "/slow":
			select {
			case <-time.After(2 * time.Second):
			case <-r.Context().Done():
			}
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()

	closed := httptest.NewServer(http.NotFoundHandler())
	closedURL := closed.URL
	closed.Close()

	for _, tc := range []struct {
		url     string
		want    int
		errText string
	}{
		{srv.URL + "/ok", 0, ""},
		{srv.URL + "/nocontent", 0, ""},
		{srv.URL + "/sick", 1, "503"},
		{srv.URL + "/missing", 1, "404"},
		{srv.URL + "/slow", 1, "Timeout"},
		{closedURL + "/ok", 1, "refused"},
	} {
		var stderr bytes.Buffer
		got := healthcheck(tc.url, 200*time.Millisecond, &stderr)
		if got != tc.want {
			t.Errorf("healthcheck(%s) = %d, want %d (stderr %q)", tc.url, got, tc.want, stderr.String())
		}
		if tc.want == 0 && stderr.Len() != 0 {
			t.Errorf("healthcheck(%s) printed %q on success", tc.url, stderr.String())
		}
		if tc.want != 0 && !strings.Contains(stderr.String(), tc.errText) {
			t.Errorf("healthcheck(%s) stderr = %q, want it to mention %q", tc.url, stderr.String(), tc.errText)
		}
	}
}

func TestRunHealthcheckFlag(t *testing.T) {
	srv := httptest.NewServer(newHandler("v1", envOf(nil)))
	defer srv.Close()
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"-healthcheck", srv.URL + "/health"}, envOf(nil), &stdout, &stderr); code != 0 {
		t.Errorf("healthy: exit %d, stderr %q", code, stderr.String())
	}
	// The flag mode must not be affected by the crash switch.
	crashEnv := envOf(map[string]string{"TESTAPP_CRASH": "1"})
	if code := run(context.Background(), []string{"-healthcheck", srv.URL + "/nope"}, crashEnv, &stdout, &stderr); code != 1 {
		t.Errorf("404: exit %d, want 1", code)
	}
	if code := run(context.Background(), []string{"-bogus"}, envOf(nil), &stdout, &stderr); code != 2 {
		t.Errorf("unknown flag: exit %d, want 2", code)
	}
}

func TestRunCrashes(t *testing.T) {
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), nil, envOf(map[string]string{"TESTAPP_CRASH": "1"}), &stdout, &stderr)
	if code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	if !strings.Contains(stderr.String(), "testapp: crashing on purpose (TESTAPP_CRASH=1)") {
		t.Errorf("stderr = %q, want the crash message", stderr.String())
	}
	if stdout.Len() != 0 {
		t.Errorf("stdout = %q, want nothing", stdout.String())
	}
}

func TestRunCrashByDefault(t *testing.T) {
	old := crashByDefault
	crashByDefault = "true"
	defer func() { crashByDefault = old }()

	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), nil, envOf(nil), &stdout, &stderr); code != 1 {
		t.Errorf("crashByDefault: exit %d, want 1", code)
	}

	// TESTAPP_CRASH=0 overrides it: the app gets as far as the start delay,
	// which a cancelled context cuts short.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	stdout.Reset()
	stderr.Reset()
	env := envOf(map[string]string{"TESTAPP_CRASH": "0", "TESTAPP_START_DELAY": "1h"})
	if code := run(ctx, nil, env, &stdout, &stderr); code != 0 {
		t.Errorf("TESTAPP_CRASH=0: exit %d, want 0 (stderr %q)", code, stderr.String())
	}
	if !strings.Contains(stdout.String(), "delaying start by 1h0m0s") {
		t.Errorf("stdout = %q, want the delay message", stdout.String())
	}
}

func TestRunBadStartDelay(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), nil, envOf(map[string]string{"TESTAPP_START_DELAY": "soon"}), &stdout, &stderr); code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	if !strings.Contains(stderr.String(), "TESTAPP_START_DELAY") {
		t.Errorf("stderr = %q", stderr.String())
	}
}

// freePort returns a TCP port that was free a moment ago.
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	return port
}

func TestRunServesAndShutsDown(t *testing.T) {
	port := freePort(t)
	env := envOf(map[string]string{"PORT": port, "TESTAPP_START_DELAY": "50ms", "ECHO_ENV": "PORT"})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	var stdout, stderr bytes.Buffer
	done := make(chan int, 1)
	go func() { done <- run(ctx, nil, env, &stdout, &stderr) }()

	base := "http://127.0.0.1:" + port
	deadline := time.Now().Add(5 * time.Second)
	for {
		resp, err := http.Get(base + "/health")
		if err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("server never came up: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}

	resp, err := http.Get(base + "/")
	if err != nil {
		t.Fatal(err)
	}
	var body rootBody
	err = json.NewDecoder(resp.Body).Decode(&body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	if body.Version != version || body.Env["PORT"] != port {
		t.Errorf("body = %+v, want version %q and env PORT=%s", body, version, port)
	}

	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("exit %d after shutdown, want 0 (stderr %q)", code, stderr.String())
		}
	case <-time.After(shutdownTimeout + time.Second):
		t.Fatal("run did not return after the context was cancelled")
	}

	out := stdout.String()
	for _, want := range []string{
		"testapp " + version + " listening on :" + port + "\n",
		"GET /health 200 ",
		"GET / 200 ",
		"shutting down",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("stdout lacks %q:\n%s", want, out)
		}
	}
}
