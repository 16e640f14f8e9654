package v1_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/skypanel/paas/api/openapi"
	v1 "github.com/skypanel/paas/api/v1"
)

// TestAppMetricsBoundsAndErrors covers the route without a real
// Prometheus (TestObservability in cmd/paasd runs one): bounds, org scope,
// 503 without VITE_PROMETHEUS_URL, 502 when Prometheus fails.
func TestAppMetricsBoundsAndErrors(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var got []string
	prom := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got = append(got, r.URL.Path+"?"+r.URL.RawQuery)
		mu.Unlock()
		if strings.Contains(r.URL.Query().Get("query"), "restarts-fail") {
			http.Error(w, "x", 500)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[[1700000060,"2"],[1700000000,"1.5"],[1700000120,"NaN"]]}]}}`))
	}))
	t.Cleanup(prom.Close)
	f := setup(t, func(d *v1.Deps) { d.Prometheus = prom.URL })
	a := f.createApp(f.alice.token, "web", map[string]any{"image": "nginx"})

	var m openapi.AppMetrics
	f.do(f.alice.token, "GET", "/api/paas/apps/web/metrics?range=10m&step=30s", nil).want(200).decode(&m)
	if len(m.Series) != 5 || m.StepSeconds != 30 || m.End.Sub(m.Start) != 10*time.Minute {
		t.Fatalf("answer %+v", m)
	}
	cpu := m.Series[0]
	if cpu.Name != "cpu" || len(cpu.Points) != 2 || cpu.Points[0].V != 1.5 || cpu.Points[1].V != 2 {
		t.Fatalf("cpu %+v", cpu)
	}
	wantCPU := `sum(rate(container_cpu_usage_seconds_total{container_label_paas_app_id="` + a.Id.String() + `"}[60s]))`
	if cpu.Query != wantCPU || v1.AppMetricsQuery("cpu", v1.DefaultPrometheusAppLabel, a.Id.String(), time.Minute) != wantCPU {
		t.Fatalf("cpu query %s", cpu.Query)
	}
	mu.Lock()
	if len(got) != 5 || !strings.HasPrefix(got[0], "/api/v1/query_range?") || !strings.Contains(got[0], "step=30") {
		t.Fatalf("requests %v", got)
	}
	mu.Unlock()

	// Another organization's app is not found.
	f.do(f.bob.token, "GET", "/api/paas/apps/"+a.Id.String()+"/metrics", nil).problem(404, "not-found")
	// Bounds.
	f.do(f.alice.token, "GET", "/api/paas/apps/web/metrics?range=1000h", nil).problem(422, "validation-failed")
	f.do(f.alice.token, "GET", "/api/paas/apps/web/metrics?range=24h&step=1s", nil).problem(422, "validation-failed")
	f.do(f.alice.token, "GET", "/api/paas/apps/web/metrics?step=500ms", nil).problem(422, "validation-failed")
	f.do(f.alice.token, "GET", "/api/paas/apps/web/metrics?range=soon", nil).problem(400, "malformed-request")

	// Not configured: 503.
	f2 := setup(t)
	f2.createApp(f2.alice.token, "web", map[string]any{"image": "nginx"})
	f2.do(f2.alice.token, "GET", "/api/paas/apps/web/metrics", nil).problem(503, "not-configured")
	// Unreachable or slow: 502.
	down := httptest.NewServer(http.NotFoundHandler())
	down.Close()
	f3 := setup(t, func(d *v1.Deps) { d.Prometheus = down.URL })
	f3.createApp(f3.alice.token, "web", map[string]any{"image": "nginx"})
	f3.do(f3.alice.token, "GET", "/api/paas/apps/web/metrics", nil).problem(502, "upstream-unavailable")
	block := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-block:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(func() { close(block); slow.Close() })
	f4 := setup(t, func(d *v1.Deps) { d.Prometheus = slow.URL; d.UpstreamTimeout = 200 * time.Millisecond })
	f4.createApp(f4.alice.token, "web", map[string]any{"image": "nginx"})
	if p := f4.do(f4.alice.token, "GET", "/api/paas/apps/web/metrics", nil).problem(502, "upstream-unavailable"); !strings.Contains(p.Detail, "did not answer within 200ms") {
		t.Fatalf("detail %q", p.Detail)
	}
}
