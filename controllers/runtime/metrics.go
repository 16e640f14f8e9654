package runtime

import (
	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/client-go/util/workqueue"
)

// Metrics is the set of Prometheus collectors that controllers and electors
// update; it is a value rather than package state so tests can use their own.
type Metrics struct {
	// ReconcileTotal counts finished reconciles by controller and result
	// (success, error or requeue).
	ReconcileTotal *prometheus.CounterVec
	// ReconcileDuration observes how long each reconcile took, per controller.
	ReconcileDuration *prometheus.HistogramVec
	// WorkqueueDepth is the number of keys ready and waiting for a worker,
	// per controller; keys waiting out a delay are not counted.
	WorkqueueDepth *prometheus.GaugeVec
	// Leader is 1 while this process holds leadership and 0 otherwise.
	Leader prometheus.Gauge
}

// Values of the result label of paas_reconcile_total.
const (
	ResultSuccess = "success"
	ResultError   = "error"
	ResultRequeue = "requeue"
)

// NewMetrics returns a fresh, unregistered set of collectors.
func NewMetrics() *Metrics {
	return &Metrics{
		ReconcileTotal: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "paas_reconcile_total",
			Help: "Finished reconciles by controller and result (success, error, requeue).",
		}, []string{"controller", "result"}),
		ReconcileDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "paas_reconcile_duration_seconds",
			Help:    "Time taken by one reconcile.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 16), // 1ms .. ~33s
		}, []string{"controller"}),
		WorkqueueDepth: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "paas_workqueue_depth",
			Help: "Keys ready in the work queue and waiting for a worker.",
		}, []string{"controller"}),
		Leader: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "paas_leader",
			Help: "1 while this process holds leadership, 0 otherwise.",
		}),
	}
}

// MustRegister registers every collector of m on reg and panics on a conflict.
func (m *Metrics) MustRegister(reg prometheus.Registerer) {
	reg.MustRegister(m.ReconcileTotal, m.ReconcileDuration, m.WorkqueueDepth, m.Leader)
}

// DefaultMetrics is used by controllers and electors whose Metrics field is
// nil; it is registered nowhere until MustRegister is called, so importing the
// package has no side effect on the global registry.
var DefaultMetrics = NewMetrics()

// MustRegister registers DefaultMetrics on reg.
func MustRegister(reg prometheus.Registerer) { DefaultMetrics.MustRegister(reg) }

// depthProvider feeds the work queue's depth into our gauge and drops the
// queue's other metrics, which we either do not need or measure ourselves.
type depthProvider struct{ depth prometheus.Gauge }

var _ workqueue.MetricsProvider = depthProvider{}

func (p depthProvider) NewDepthMetric(string) workqueue.GaugeMetric     { return p.depth }
func (depthProvider) NewAddsMetric(string) workqueue.CounterMetric      { return noopMetric{} }
func (depthProvider) NewLatencyMetric(string) workqueue.HistogramMetric { return noopMetric{} }
func (depthProvider) NewWorkDurationMetric(string) workqueue.HistogramMetric {
	return noopMetric{}
}
func (depthProvider) NewUnfinishedWorkSecondsMetric(string) workqueue.SettableGaugeMetric {
	return noopMetric{}
}
func (depthProvider) NewLongestRunningProcessorSecondsMetric(string) workqueue.SettableGaugeMetric {
	return noopMetric{}
}
func (depthProvider) NewRetriesMetric(string) workqueue.CounterMetric { return noopMetric{} }

type noopMetric struct{}

func (noopMetric) Inc()            {}
func (noopMetric) Dec()            {}
func (noopMetric) Set(float64)     {}
func (noopMetric) Observe(float64) {}
