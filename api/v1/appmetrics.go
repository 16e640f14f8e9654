package v1

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"
	"golang.org/x/sync/errgroup"

	"github.com/skypanel/paas/api/openapi"
	"github.com/skypanel/paas/api/problem"
)

// DefaultPrometheusAppLabel is the series label cAdvisor gives a
// container's paas.app.id label.
const DefaultPrometheusAppLabel = "container_label_paas_app_id"

const (
	defaultMetricsRange = time.Hour
	maxMetricsRange     = 720 * time.Hour
	minMetricsStep      = time.Second
	// maxMetricsPoints bounds the points of one series (Prometheus's own
	// bound is 11,000).
	maxMetricsPoints = 1000
	// minRateWindow is the shortest window rates and restarts are taken
	// over: several scrapes at Prometheus's usual 15s interval.
	minRateWindow = time.Minute
	// maxPrometheusAnswer bounds the bytes read of one query's answer.
	maxPrometheusAnswer = 8 << 20
)

// appMetric is one series of GET .../metrics: its name, unit and PromQL,
// given the app's selector and the rate window.
type appMetric struct {
	name  openapi.MetricSeriesName
	unit  string
	query func(sel, window string) string
}

// AppMetricQueries are the per-app series, in answer order. They read
// cAdvisor's container series (also listed in deploy/grafana's cAdvisor
// names, which the dashboards test checks).
var appMetrics = []appMetric{
	{openapi.Cpu, "cores", func(sel, w string) string {
		return "sum(rate(container_cpu_usage_seconds_total" + sel + "[" + w + "]))"
	}},
	{openapi.Memory, "bytes", func(sel, _ string) string {
		return "sum(container_memory_working_set_bytes" + sel + ")"
	}},
	{openapi.NetworkReceive, "bytes_per_second", func(sel, w string) string {
		return "sum(rate(container_network_receive_bytes_total" + sel + "[" + w + "]))"
	}},
	{openapi.NetworkTransmit, "bytes_per_second", func(sel, w string) string {
		return "sum(rate(container_network_transmit_bytes_total" + sel + "[" + w + "]))"
	}},
	// Containers seen within the window that are not running now: tasks
	// that ended (crashed, replaced) — Swarm restarts by replacing.
	{openapi.Restarts, "count", func(sel, w string) string {
		return "(count(count by (id) (count_over_time(container_start_time_seconds" + sel + "[" + w + "]))) or vector(0))" +
			" - (count(container_start_time_seconds" + sel + ") or vector(0))"
	}},
}

// AppMetricsQuery is the PromQL of one named series for an app, as the
// route sends it (for tests and docs).
func AppMetricsQuery(name, label, appID string, window time.Duration) string {
	sel := "{" + label + "=" + strconv.Quote(appID) + "}"
	for _, m := range appMetrics {
		if string(m.name) == name {
			return m.query(sel, promDuration(window))
		}
	}
	return ""
}

// promDuration writes d in PromQL's duration syntax, in whole seconds.
func promDuration(d time.Duration) string {
	return strconv.FormatInt(int64(d/time.Second), 10) + "s"
}

// promMatrix is Prometheus's query_range answer
// (https://prometheus.io/docs/prometheus/latest/querying/api/#range-queries).
type promMatrix struct {
	Status    string `json:"status"`
	ErrorType string `json:"errorType"`
	Error     string `json:"error"`
	Data      struct {
		ResultType string `json:"resultType"`
		Result     []struct {
			Metric map[string]string `json:"metric"`
			Values [][2]any          `json:"values"`
		} `json:"result"`
	} `json:"data"`
}

// GetAppMetrics answers the app's CPU, memory, network and restarts from
// Prometheus.
func (s *server) GetAppMetrics(c echo.Context, ident openapi.AppPath, params openapi.GetAppMetricsParams) error {
	app, err := s.findApp(c, ident)
	if err != nil {
		return err
	}
	rng, step := defaultMetricsRange, time.Duration(0)
	var errs []problem.FieldError
	if params.Range != nil && *params.Range != "" {
		if rng, err = time.ParseDuration(*params.Range); err != nil {
			errs = append(errs, fe("range", "must be a duration such as 1h or 30m"))
		}
	}
	if params.Step != nil && *params.Step != "" {
		if step, err = time.ParseDuration(*params.Step); err != nil {
			errs = append(errs, fe("step", "must be a duration such as 60s"))
		}
	}
	if len(errs) > 0 {
		return problem.Malformed("", errs...)
	}
	if step == 0 {
		step = max((rng / 60).Truncate(time.Second), minMetricsStep)
	}
	switch {
	case rng <= 0 || rng > maxMetricsRange:
		errs = append(errs, fe("range", fmt.Sprintf("must be more than 0 and at most %s", maxMetricsRange)))
	case step < minMetricsStep || step%time.Second != 0:
		errs = append(errs, fe("step", "must be whole seconds, at least 1s"))
	case rng/step+1 > maxMetricsPoints:
		errs = append(errs, fe("step", fmt.Sprintf("range/step gives %d points; at most %d: raise step or shorten range", rng/step+1, maxMetricsPoints)))
	}
	if len(errs) > 0 {
		return problem.Invalid(errs...)
	}
	if s.Prometheus == "" {
		return problem.New(http.StatusServiceUnavailable, problem.TypeNotConfigured, "Metrics not configured",
			"this paasd has no Prometheus to read app metrics from: set VITE_PROMETHEUS_URL")
	}
	end := s.Now()
	if params.End != nil {
		end = *params.End
	}
	end = end.Truncate(step)
	start := end.Add(-rng)
	sel := "{" + s.PrometheusAppLabel + "=" + strconv.Quote(app.ID.String()) + "}"
	window := promDuration(max(step, minRateWindow))
	out := openapi.AppMetrics{AppId: app.ID, Start: start.UTC(), End: end.UTC(), StepSeconds: int(step / time.Second),
		Series: make([]openapi.MetricSeries, len(appMetrics))}
	g, ctx := errgroup.WithContext(c.Request().Context())
	for i, m := range appMetrics {
		q := m.query(sel, window)
		out.Series[i] = openapi.MetricSeries{Name: m.name, Unit: m.unit, Query: q, Points: []openapi.MetricPoint{}}
		g.Go(func() error {
			pts, err := s.promRange(ctx, q, start, end, step)
			out.Series[i].Points = pts
			return err
		})
	}
	if err := g.Wait(); err != nil {
		if c.Request().Context().Err() != nil {
			return nil
		}
		s.log.Warn().Err(err).Str("app", app.ID.String()).Msg("prometheus query")
		return upstreamUnavailable("Prometheus", err.Error())
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusOK, out)
}

// promRange runs one query_range and answers its single series' points
// (summed when Prometheus answers several), oldest first.
func (s *server) promRange(ctx context.Context, query string, start, end time.Time, step time.Duration) ([]openapi.MetricPoint, error) {
	v := url.Values{
		"query": {query},
		"start": {strconv.FormatInt(start.Unix(), 10)},
		"end":   {strconv.FormatInt(end.Unix(), 10)},
		"step":  {strconv.FormatInt(int64(step/time.Second), 10)},
	}
	var ans promMatrix
	if err := s.upstreamGet(ctx, "Prometheus", s.Prometheus, "/api/v1/query_range", v, maxPrometheusAnswer, &ans); err != nil {
		return nil, err
	}
	if ans.Status != "success" {
		return nil, fmt.Errorf("Prometheus answered %s: %s", ans.ErrorType, ans.Error)
	}
	if ans.Data.ResultType != "matrix" {
		return nil, fmt.Errorf("Prometheus answered result type %q, want matrix", ans.Data.ResultType)
	}
	sums := map[int64]float64{}
	var order []int64
	for _, r := range ans.Data.Result {
		for _, p := range r.Values {
			ts, ok := p[0].(float64)
			str, ok2 := p[1].(string)
			if !ok || !ok2 {
				return nil, fmt.Errorf("Prometheus answered a point %v that is not [time, \"value\"]", p)
			}
			val, err := strconv.ParseFloat(str, 64)
			if err != nil || math.IsNaN(val) || math.IsInf(val, 0) {
				continue
			}
			ms := int64(math.Round(ts * 1000))
			if _, seen := sums[ms]; !seen {
				order = append(order, ms)
			}
			sums[ms] += val
		}
	}
	pts := make([]openapi.MetricPoint, 0, len(order))
	for _, ms := range order {
		pts = append(pts, openapi.MetricPoint{T: time.UnixMilli(ms).UTC(), V: sums[ms]})
	}
	slices.SortStableFunc(pts, func(a, b openapi.MetricPoint) int { return a.T.Compare(b.T) })
	return pts, nil
}
