package v1_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/skypanel/paas/store"
)

func TestMaxAppsPerOrg(t *testing.T) {
	t.Parallel()
	f := setup(t)
	f.setSetting("max_apps_per_org", "2")
	f.createApp(f.alice.token, "one", map[string]any{"image": "nginx"})
	f.createApp(f.alice.token, "two", map[string]any{"image": "nginx"})
	before := f.state()
	p := f.do(f.alice.token, "POST", "/api/paas/apps", map[string]any{"name": "three", "spec": map[string]any{"image": "nginx"}}).problem(403, "limit-exceeded")
	if p.Limit != "max_apps_per_org" || *p.LimitValue != 2 || *p.Current != 2 || !strings.Contains(p.Detail, "limit is 2") {
		t.Fatalf("problem = %+v", p)
	}
	if f.state() != before {
		t.Fatal("a refused create changed state")
	}
	// The limit is per organization.
	f.createApp(f.bob.token, "three", map[string]any{"image": "nginx"})
	// A deleting app no longer counts.
	f.do(f.alice.token, "DELETE", "/api/paas/apps/one", nil).want(202)
	f.createApp(f.alice.token, "three", map[string]any{"image": "nginx"})
	// 0 means no limit.
	f.setSetting("max_apps_per_org", "0")
	f.createApp(f.alice.token, "four", map[string]any{"image": "nginx"})
}

func TestMaxDeploymentsPerHour(t *testing.T) {
	t.Parallel()
	f := setup(t)
	f.setSetting("max_deployments_per_hour", "2")
	// Two deployments asked for this hour: the app's first, and an image.
	a := f.createApp(f.alice.token, "web", map[string]any{"image": "nginx:1", "plan": "pro"})
	f.insertRelease(a.Id, store.ReleaseSpec{Image: "nginx:1", PlanID: f.pro.ID.String()}, "deployed") // as the reconciler would
	f.do(f.alice.token, "PATCH", "/api/paas/apps/web", map[string]any{"spec": map[string]any{"image": "nginx:1.1"}}).want(200)

	before := f.state()
	for _, tc := range []struct {
		name, method, path string
		body               any
	}{
		{"deploy", "POST", "/api/paas/apps/web/deployments", map[string]any{"image": "nginx:2"}},
		{"patch image", "PATCH", "/api/paas/apps/web", map[string]any{"spec": map[string]any{"image": "nginx:2"}}},
		{"patch env", "PATCH", "/api/paas/apps/web", map[string]any{"spec": map[string]any{"env": map[string]any{"A": "1"}}}},
		{"put env", "PUT", "/api/paas/apps/web/env", map[string]any{"env": map[string]any{"A": "1"}}},
		{"import env", "POST", "/api/paas/apps/web/env/import", raw{"text/plain", "A=1\n"}},
		{"rollback", "POST", "/api/paas/apps/web/rollback", map[string]any{"version": 1}},
		{"create", "POST", "/api/paas/apps", map[string]any{"name": "other", "spec": map[string]any{"image": "nginx"}}},
	} {
		r := f.do(f.alice.token, tc.method, tc.path, tc.body)
		p := r.problem(429, "limit-exceeded")
		if p.Limit != "max_deployments_per_hour" || *p.LimitValue != 2 || *p.Current != 2 || r.Header.Get("Retry-After") == "" {
			t.Fatalf("%s: problem = %+v, headers %v", tc.name, p, r.Header)
		}
		if secs, _ := strconv.Atoi(r.Header.Get("Retry-After")); secs < 3500 || secs > 3601 {
			t.Fatalf("%s: Retry-After %d s, want about an hour", tc.name, secs)
		}
	}
	if f.state() != before {
		t.Fatal("refused writes changed state")
	}
	// Writes that cut no release are not limited.
	f.do(f.alice.token, "POST", "/api/paas/apps/web/scale", map[string]any{"replicas": 3}).want(202)
	f.do(f.alice.token, "POST", "/api/paas/apps/web/restart", nil).want(202)
	f.do(f.alice.token, "POST", "/api/paas/apps/web/stop", nil).want(202)
	// Another organization has its own budget.
	f.createApp(f.bob.token, "web", map[string]any{"image": "nginx"})
	// Requests older than an hour no longer count.
	f.clock.Advance(61 * time.Minute)
	f.do(f.alice.token, "POST", "/api/paas/apps/web/deployments", map[string]any{"image": "nginx:2"}).want(202)
	f.do(f.alice.token, "POST", "/api/paas/apps/web/deployments", map[string]any{"image": "nginx:3"}).want(202)
	f.do(f.alice.token, "POST", "/api/paas/apps/web/deployments", map[string]any{"image": "nginx:4"}).problem(429, "limit-exceeded")
}

// TestMaxDeploymentsPerHourUnderBurst fires more concurrent deployments
// than the limit allows, on several apps, before any release is cut:
// exactly the limit gets through.
func TestMaxDeploymentsPerHourUnderBurst(t *testing.T) {
	t.Parallel()
	f := setup(t)
	for i := 0; i < 4; i++ {
		f.createApp(f.alice.token, fmt.Sprintf("app-%d", i), map[string]any{"image": "nginx:1"})
	}
	f.setSetting("max_deployments_per_hour", "10") // 4 taken by the creations
	const writes = 20
	codes := make(chan int, writes)
	var wg sync.WaitGroup
	for i := 0; i < writes; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			path := fmt.Sprintf("/api/paas/apps/app-%d/deployments", i%4)
			codes <- f.do(f.alice.token, "POST", path, map[string]any{"image": fmt.Sprintf("nginx:%d", 2+i)}).Code
		}()
	}
	wg.Wait()
	close(codes)
	got := map[int]int{}
	for c := range codes {
		got[c]++
	}
	if got[202] != 6 || got[429] != writes-6 {
		t.Fatalf("answers %v, want 6 accepted and %d refused", got, writes-6)
	}
	var n int
	if err := f.s.Pool.QueryRow(context.Background(), "SELECT count(*) FROM paas_audit_log WHERE action = 'app.deploy'").Scan(&n); err != nil || n != 6 {
		t.Fatalf("%d deploys audited (%v), want 6", n, err)
	}
}

func TestSuspendedOrganization(t *testing.T) {
	t.Parallel()
	f := setup(t)
	f.createApp(f.alice.token, "web", map[string]any{"image": "nginx", "plan": "pro", "replicas": 2})
	if _, err := f.s.SetOrganizationSuspended(context.Background(), store.SetOrganizationSuspendedParams{ID: f.acme.ID, Suspended: true}); err != nil {
		t.Fatal(err)
	}
	before := f.state()
	for _, c := range []struct {
		method, path string
		body         any
	}{
		{"POST", "/api/paas/apps", map[string]any{"name": "new", "spec": map[string]any{"image": "nginx"}}},
		{"POST", "/api/paas/apps/web/deployments", map[string]any{"image": "nginx:2"}},
		{"POST", "/api/paas/apps/web/scale", map[string]any{"replicas": 3}},
		{"POST", "/api/paas/apps/web/restart", nil},
		{"PUT", "/api/paas/apps/web/env", map[string]any{"env": map[string]any{"A": "1"}}},
	} {
		f.do(f.alice.token, c.method, c.path, c.body).problem(403, "organization-suspended")
	}
	if f.state() != before {
		t.Fatal("refused writes changed state")
	}
	// Scaling down, stopping and deleting stay possible.
	f.do(f.alice.token, "POST", "/api/paas/apps/web/scale", map[string]any{"replicas": 1}).want(202)
	f.do(f.alice.token, "POST", "/api/paas/apps/web/stop", nil).want(202)
	f.do(f.alice.token, "POST", "/api/paas/apps/web/start", nil).problem(403, "organization-suspended")
	f.do(f.alice.token, "DELETE", "/api/paas/apps/web", nil).want(202)
}
