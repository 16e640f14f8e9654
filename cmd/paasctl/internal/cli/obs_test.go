package cli

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestLogsFollowSinceGrep: `paasctl logs -f --since 1h --grep TEXT` asks
// the server to filter and follow, and prints stdout and stderr lines
// where they belong.
func TestLogsFollowSinceGrep(t *testing.T) {
	var mu sync.Mutex
	var got url.Values
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got = r.URL.Query()
		mu.Unlock()
		if r.URL.Path != "/api/paas/apps/web/logs" || r.Header.Get("Accept") != "text/event-stream" {
			http.Error(w, "unexpected "+r.URL.Path, 400)
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, "id: 1\nevent: stdout\ndata: TEXT one\n\nid: 2\nevent: stderr\ndata: TEXT two\n\n")
	}))
	defer srv.Close()
	out, errs, code := run(t, srv, "", "logs", "web", "-f", "--since", "1h", "--grep", "TEXT", "--level", "warn", "--stream", "stdout")
	if code != 0 || out != "TEXT one\n" || errs != "TEXT two\n" {
		t.Fatalf("logs -f: %d %q %q", code, out, errs)
	}
	mu.Lock()
	defer mu.Unlock()
	for k, v := range map[string]string{"follow": "true", "since": "1h", "grep": "TEXT", "level": "warn", "stream": "stdout"} {
		if got.Get(k) != v {
			t.Errorf("%s=%q, want %q (%v)", k, got.Get(k), v, got)
		}
	}
	if _, _, code := run(t, srv, "", "logs", "web", "-f", "--until", "1h"); code == 0 {
		t.Fatal("-f with --until accepted")
	}
}

// TestTop: `paasctl top` shows each app's newest CPU and memory point.
func TestTop(t *testing.T) {
	now := time.Now().UTC()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/api/paas/apps":
			fmt.Fprint(w, `{"items":[{"name":"web","status":{"phase":"Running"}},{"name":"idle","status":{"phase":"Stopped"}}],"next_cursor":""}`)
		case "/api/paas/apps/web/metrics":
			if r.URL.Query().Get("range") != "5m" {
				http.Error(w, "range", 400)
				return
			}
			pt := func(v float64) string {
				b, _ := json.Marshal([]map[string]any{{"t": now.Add(-time.Minute), "v": 0}, {"t": now, "v": v}})
				return string(b)
			}
			fmt.Fprintf(w, `{"app_id":"00000000-0000-4000-8000-000000000000","start":%q,"end":%q,"step_seconds":60,"series":[
				{"name":"cpu","unit":"cores","query":"q","points":%s},
				{"name":"memory","unit":"bytes","query":"q","points":%s},
				{"name":"restarts","unit":"count","query":"q","points":%s}]}`,
				now.Format(time.RFC3339), now.Format(time.RFC3339), pt(0.25), pt(48*1024*1024), pt(1))
		case "/api/paas/apps/idle/metrics":
			fmt.Fprintf(w, `{"app_id":"00000000-0000-4000-8000-000000000001","start":%q,"end":%q,"step_seconds":60,"series":[]}`, now.Format(time.RFC3339), now.Format(time.RFC3339))
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	out, errs, code := run(t, srv, "", "top")
	if code != 0 {
		t.Fatalf("top: %d %s", code, errs)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 || !strings.Contains(lines[0], "CPU") || strings.Join(strings.Fields(lines[1]), " ") != "web Running 250m 48.0Mi 1" ||
		strings.Join(strings.Fields(lines[2]), " ") != "idle Stopped - - -" {
		t.Fatalf("top:\n%s", out)
	}
	if _, errs, code := run(t, srv, "", "top", "nope"); code == 0 || !strings.Contains(errs, `"nope" not found`) {
		t.Fatalf("top nope: %d %s", code, errs)
	}
}

// TestLogsBuildFollow: `paasctl logs APP --build N -f` follows the build
// log over SSE: it prints the output as it comes (LF-joined data, no
// extra newlines), resumes a broken stream from the last id it printed
// (Last-Event-ID: nothing printed twice), notes output the cap skipped,
// prints the outcome to stderr, and exits 1 unless the build succeeded.
// An end carrying a problem (the credential ended) is an error too.
func TestLogsBuildFollow(t *testing.T) {
	const build = `{"id":"00000000-0000-0000-0000-000000000001","app_id":"00000000-0000-0000-0000-000000000002","number":3,"ref":"main","trigger":"api","status":%q,"step":2,"steps":2,"message":%q,"attempts":1,"created_at":"2026-01-01T00:00:00Z"}`
	for _, tc := range []struct {
		name, status, message string
		code                  int
	}{
		{"failed", "build_failed", "builder: boom", 1},
		{"cancelled", "cancelled", "cancelled", 1},
		{"succeeded", "succeeded", "built reg/acme/web@sha256:ab", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var mu sync.Mutex
			var resumes []string
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				defer mu.Unlock()
				if r.URL.Path != "/api/paas/apps/web/builds/3/logs" || r.Header.Get("Accept") != "text/event-stream" {
					http.Error(w, "unexpected "+r.URL.Path, 400)
					return
				}
				w.Header().Set("Content-Type", "text/event-stream")
				resumes = append(resumes, r.Header.Get("Last-Event-ID"))
				if len(resumes) == 1 {
					// The first connection breaks after one message.
					fmt.Fprint(w, ": stream open\n\nid: 16\nevent: log\ndata: --- step 1 of 2\ndata: \n\n")
					return
				}
				fmt.Fprint(w, "event: truncated\ndata: {\"dropped_bytes\":5}\n\n")
				fmt.Fprint(w, "id: 40\nevent: log\ndata: --- step 2 of 2\ndata: partial")
				fmt.Fprint(w, "\n\nid: 48\nevent: log\ndata:  line\ndata: \n\n")
				fmt.Fprintf(w, "id: 48\nevent: end\ndata: "+build+"\n\n", tc.status, tc.message)
			}))
			defer srv.Close()
			out, errs, code := run(t, srv, "", "logs", "web", "--build", "3", "-f")
			if code != tc.code || out != "--- step 1 of 2\n--- step 2 of 2\npartial line\n" {
				t.Fatalf("logs --build -f: %d %q %q", code, out, errs)
			}
			if !strings.Contains(errs, "build 3 "+tc.status+": "+tc.message) || !strings.Contains(errs, "5 bytes of output skipped") {
				t.Fatalf("stderr %q", errs)
			}
			if len(resumes) != 2 || resumes[0] != "" || resumes[1] != "16" {
				t.Fatalf("Last-Event-ID of the connections: %q", resumes)
			}
		})
	}
	t.Run("credential ended", func(t *testing.T) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/event-stream")
			fmt.Fprint(w, "id: 4\nevent: log\ndata: abc\n\n")
			fmt.Fprint(w, `event: end`+"\n"+`data: {"type":"https://skypanel.dev/problems/unauthorized","title":"Unauthorized","status":401,"detail":"the token has expired: the stream ended with it"}`+"\n\n")
		}))
		defer srv.Close()
		out, errs, code := run(t, srv, "", "logs", "web", "--build", "3", "-f")
		if code != 1 || out != "abc" || !strings.Contains(errs, "expired") {
			t.Fatalf("logs --build -f after the token expired: %d %q %q", code, out, errs)
		}
	})
	t.Run("text without -f", func(t *testing.T) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("Accept") == "text/event-stream" {
				http.Error(w, "no stream without -f", 400)
				return
			}
			w.Header().Set("Content-Type", "text/plain")
			fmt.Fprint(w, "--- step 1 of 2\n")
		}))
		defer srv.Close()
		if out, errs, code := run(t, srv, "", "logs", "web", "--build", "3"); code != 0 || out != "--- step 1 of 2\n" {
			t.Fatalf("logs --build: %d %q %q", code, out, errs)
		}
	})
}
