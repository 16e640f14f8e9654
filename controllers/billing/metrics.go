package billing

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the sweep loop's series; build them with NewMetrics. Plain
// counters, so each series shows from the first scrape on.
type Metrics struct {
	// Sweeps counts finished sweeps, those that charged nothing included.
	Sweeps prometheus.Counter
	// Errors counts sweeps that failed (retried with backoff).
	Errors prometheus.Counter
	// Duration observes how long each sweep took.
	Duration prometheus.Histogram
	// Charges counts the (app, hour) ledger rows the sweeps wrote.
	Charges prometheus.Counter
	// ChargedMicros sums what the sweeps charged, in micro-units.
	ChargedMicros prometheus.Counter
}

// NewMetrics builds the sweep loop's metrics.
func NewMetrics() *Metrics {
	return &Metrics{
		Sweeps: prometheus.NewCounter(prometheus.CounterOpts{Name: "paas_billing_sweeps_total", Help: "Billing sweeps finished."}),
		Errors: prometheus.NewCounter(prometheus.CounterOpts{Name: "paas_billing_sweep_errors_total", Help: "Billing sweeps that failed and were retried."}),
		Duration: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "paas_billing_sweep_duration_seconds",
			Help: "Time one billing sweep took.", Buckets: prometheus.ExponentialBuckets(0.001, 4, 10)}),
		Charges:       prometheus.NewCounter(prometheus.CounterOpts{Name: "paas_billing_charges_total", Help: "App-hours charged by billing sweeps."}),
		ChargedMicros: prometheus.NewCounter(prometheus.CounterOpts{Name: "paas_billing_charged_micros_total", Help: "Amount charged by billing sweeps, in micro-units."}),
	}
}

// MustRegister registers every series with reg.
func (m *Metrics) MustRegister(reg prometheus.Registerer) {
	reg.MustRegister(m.Sweeps, m.Errors, m.Duration, m.Charges, m.ChargedMicros)
}
