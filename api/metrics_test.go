package api

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/rs/zerolog"
)

// TestRequestMetricsByRouteTemplate: requests are counted by route
// template and code, never by raw path, so unknown paths add no series.
func TestRequestMetricsByRouteTemplate(t *testing.T) {
	reg := prometheus.NewRegistry()
	s := &Server{Requests: NewRequestMetrics(reg), Register: func(e *echo.Echo) {
		e.GET("/api/paas/apps/:app", func(c echo.Context) error { return c.String(200, c.Param("app")) })
	}}
	h := s.Handler(zerolog.Nop())
	for _, p := range []string{"/api/paas/apps/web", "/api/paas/apps/api", "/nope/1", "/nope/2", "/healthz"} {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, p, nil))
	}
	want := `
# HELP paas_http_requests_total HTTP requests answered, by route template, method and status code.
# TYPE paas_http_requests_total counter
paas_http_requests_total{code="200",method="GET",route="/api/paas/apps/:app"} 2
paas_http_requests_total{code="200",method="GET",route="/healthz"} 1
paas_http_requests_total{code="404",method="GET",route="unmatched"} 2
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "paas_http_requests_total"); err != nil {
		t.Fatal(err)
	}
}
