package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/skypanel/paas/controllers/swarm/swarmtest"
)

// apiClient speaks JSON to one paasd as a logged-in user.
type apiClient struct {
	t     testing.TB
	base  string
	token string
}

func (c *apiClient) do(method, path string, body any, out any) int {
	c.t.Helper()
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, c.base+path, r)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if out != nil && len(raw) > 0 && resp.StatusCode < 300 {
		if s, ok := out.(*string); ok {
			*s = string(raw)
		} else if err := json.Unmarshal(raw, out); err != nil {
			c.t.Fatalf("%s %s: decode %q: %v", method, path, raw, err)
		}
	}
	if resp.StatusCode >= 400 && resp.StatusCode != 404 {
		c.t.Logf("%s %s -> %d %s", method, path, resp.StatusCode, raw)
	}
	return resp.StatusCode
}

type apiApp struct {
	ID     string `json:"id"`
	Name   string `json:"name"`
	Status struct {
		Phase              string `json:"phase"`
		Generation         int64  `json:"generation"`
		ObservedGeneration int64  `json:"observed_generation"`
		RunningReplicas    int    `json:"running_replicas"`
		Conditions         []struct {
			Type, Status, Reason string
		} `json:"conditions"`
	} `json:"status"`
}

func (a apiApp) ready() bool {
	for _, c := range a.Status.Conditions {
		if c.Type == "Ready" {
			return c.Status == "True" && a.Status.ObservedGeneration == a.Status.Generation
		}
	}
	return false
}

// watchStream collects the messages of GET /api/paas/watch.
type watchStream struct {
	mu     sync.Mutex
	events []sseMessage
}

type sseMessage struct{ id, event, data string }

func (w *watchStream) run(ctx context.Context, t testing.TB, base, token string) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/api/paas/watch", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Accept", "text/event-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		if ctx.Err() == nil {
			t.Errorf("watch: %v", err)
		}
		return
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		t.Errorf("watch answered %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
		return
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	var cur sseMessage
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if cur.data != "" {
				w.mu.Lock()
				w.events = append(w.events, cur)
				w.mu.Unlock()
			}
			cur = sseMessage{}
		case strings.HasPrefix(line, "id: "):
			cur.id = strings.TrimPrefix(line, "id: ")
		case strings.HasPrefix(line, "event: "):
			cur.event = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			cur.data += strings.TrimPrefix(line, "data: ")
		}
	}
}

// find returns the first message satisfying match.
func (w *watchStream) find(match func(sseMessage) bool) (sseMessage, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, m := range w.events {
		if match(m) {
			return m, true
		}
	}
	return sseMessage{}, false
}

// TestAPIEndToEnd is issue 4's walk through the product: seed an admin, log
// in, create an app through the API, watch it turn Ready, read its logs,
// patch its image, see release 2 deployed, delete it and see it gone.
func TestAPIEndToEnd(t *testing.T) {
	t.Parallel()
	c := newCluster(t, "")
	seed := exec.Command(paasdBinary, "seed-admin", "--email", "ops@example.com", "--password", "correct horse battery")
	seed.Env = append(os.Environ(), "DATABASE_URL="+c.url)
	if out, err := seed.CombinedOutput(); err != nil || !strings.Contains(string(out), "created") {
		t.Fatalf("seed-admin: %v %s", err, out)
	}
	p := c.start("paasd")
	api := &apiClient{t: t, base: "http://" + p.addr}

	var login struct {
		Token string `json:"token"`
	}
	if code := api.do("POST", "/api/auth/login", map[string]string{"email": "ops@example.com", "password": "correct horse battery"}, &login); code != 200 || login.Token == "" {
		t.Fatalf("login: %d", code)
	}
	api.token = login.Token

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	watch := &watchStream{}
	go watch.run(ctx, t, api.base, api.token)

	var app apiApp
	if code := api.do("POST", "/api/paas/apps", map[string]any{"name": "web", "spec": map[string]any{
		"image": "paas-testapp:v1", "replicas": 1, "port": 8080, "env": map[string]string{"ECHO_ENV": "GREETING", "GREETING": "hi"},
	}}, &app); code != 201 {
		t.Fatalf("create app: %d", code)
	}

	swarmtest.Eventually(t, 90*time.Second, "watch shows the app Ready", func() bool {
		_, ok := watch.find(func(m sseMessage) bool {
			var a apiApp
			return m.event == "app" && json.Unmarshal([]byte(m.data), &a) == nil && a.ID == app.ID && a.ready() && a.Status.Phase == "Running"
		})
		return ok
	})

	swarmtest.Eventually(t, 30*time.Second, "logs show the app started", func() bool {
		var logs string
		return api.do("GET", "/api/paas/apps/web/logs?tail=50", nil, &logs) == 200 && strings.Contains(logs, "testapp v1 listening")
	})

	if code := api.do("PATCH", "/api/paas/apps/web", map[string]any{"spec": map[string]any{"image": "paas-testapp:v2"}}, nil); code != 200 {
		t.Fatalf("patch image: %d", code)
	}
	swarmtest.Eventually(t, 90*time.Second, "release 2 deployed", func() bool {
		var d struct {
			Version int    `json:"version"`
			Status  string `json:"status"`
		}
		return api.do("GET", "/api/paas/apps/web/deployments/2", nil, &d) == 200 && d.Status == "deployed"
	})
	svcs := c.servicesByLabel(t, app.ID)
	if len(svcs) != 1 || svcs[0].Spec.Labels["paas.image"] != "paas-testapp:v2" {
		t.Fatalf("after patch: %d services, image label %v", len(svcs), svcs)
	}

	if code := api.do("DELETE", "/api/paas/apps/web", nil, nil); code != 202 {
		t.Fatalf("delete: %d", code)
	}
	swarmtest.Eventually(t, 60*time.Second, "app gone from the API and from Swarm", func() bool {
		return api.do("GET", "/api/paas/apps/web", nil, nil) == 404 && len(c.servicesByLabel(t, app.ID)) == 0
	})
	// The watch announces the deletion. (Whether it also shows the brief
	// Deleting phase depends on whether it reads the row before the
	// reconciler removes it: a watch sends the state it reads, not every
	// intermediate one.)
	swarmtest.Eventually(t, 30*time.Second, "the watch to announce the deletion", func() bool {
		_, ok := watch.find(func(m sseMessage) bool { return m.event == "deleted" && strings.Contains(m.data, app.ID) })
		return ok
	})
	watch.mu.Lock()
	t.Logf("watch delivered %d messages", len(watch.events))
	watch.mu.Unlock()
}
