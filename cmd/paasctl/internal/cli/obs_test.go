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

// TestLogsBuildFollow: `paasctl logs web --build 3 -f` prints build 3's
// log as it grows and stops when the build ends.
func TestLogsBuildFollow(t *testing.T) {
	var mu sync.Mutex
	polls := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		switch r.URL.Path {
		case "/api/paas/apps/web/builds/3":
			polls++
			status := "building"
			if polls >= 2 {
				status = "build_failed"
			}
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{"id":"00000000-0000-0000-0000-000000000001","app_id":"00000000-0000-0000-0000-000000000002","number":3,"ref":"main","trigger":"api","status":%q,"step":1,"steps":2,"message":"","attempts":1,"created_at":"2026-01-01T00:00:00Z"}`, status)
		case "/api/paas/apps/web/builds/3/logs":
			w.Header().Set("Content-Type", "text/plain")
			if polls >= 2 {
				fmt.Fprint(w, "--- step 1 of 2\n--- build_failed: builder: boom\n")
			} else {
				fmt.Fprint(w, "--- step 1 of 2\n")
			}
		default:
			http.Error(w, "unexpected "+r.URL.Path, 400)
		}
	}))
	defer srv.Close()
	out, errs, code := run(t, srv, "", "logs", "web", "--build", "3", "-f")
	if code != 0 || out != "--- step 1 of 2\n--- build_failed: builder: boom\n" || !strings.Contains(errs, "build 3 build_failed") {
		t.Fatalf("logs --build: %d %q %q", code, out, errs)
	}
}
