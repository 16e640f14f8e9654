package billing

import (
	"context"
	"time"

	"github.com/rs/zerolog"

	"github.com/skypanel/paas/controllers/runtime"
	"github.com/skypanel/paas/store"
	"github.com/skypanel/paas/store/billing"
	"github.com/skypanel/paas/store/key"
)

// SweepName is the sweep loop's name in the registry.
const SweepName = "billing-sweep"

// KindBilling is the kind of the sweep loop's single key.
const KindBilling key.Kind = "billing"

// SweepKey is the sweep loop's key, enqueued by its cron schedule and at
// every resync (so hours missed while no leader ran are caught up at once).
var SweepKey = key.New(KindBilling, "sweep")

// Sweeper is the sweep loop's reconciler.
type Sweeper struct {
	// Store is the database the sweep charges in.
	Store *store.Store
	// Now reads the clock.
	Now func() time.Time
	// Metrics, when set, counts sweeps, their time and what they charged.
	Metrics *Metrics
}

// Reconcile charges every complete, settled hour not yet charged. The cron
// fires at the top of the hour, when the hour just ended is not settled
// yet (the meter may still extend an interval into it for up to the max
// gap): it asks to run again once it is.
func (s *Sweeper) Reconcile(ctx context.Context, _ key.Key) (runtime.Result, error) {
	gap, err := billing.MaxGap(ctx, s.Store)
	if err != nil {
		return runtime.Result{}, err
	}
	now := s.Now()
	start := time.Now()
	res, err := billing.Sweep(ctx, s.Store.Pool, now, gap, s.Now)
	if s.Metrics != nil {
		s.Metrics.Duration.Observe(time.Since(start).Seconds())
		if err != nil {
			s.Metrics.Errors.Inc()
		} else {
			s.Metrics.Sweeps.Inc()
			s.Metrics.Charges.Add(float64(res.Charges))
			s.Metrics.ChargedMicros.Add(float64(res.TotalMicros))
		}
	}
	if err != nil {
		return runtime.Result{}, err
	}
	if res.Hours > 0 {
		zerolog.Ctx(ctx).Info().Int("hours", res.Hours).Int64("charges", res.Charges).Int64("total_micros", res.TotalMicros).
			Dur("took", time.Since(start)).Msg("billing: swept")
	}
	if wait := res.Due.Sub(now); wait > 0 && wait <= gap+5*time.Second {
		return runtime.Result{RequeueAfter: wait}, nil
	}
	return runtime.Result{}, nil
}
