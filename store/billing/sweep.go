package billing

import (
	"context"
	"fmt"
	"time"

	"github.com/skypanel/paas/store"
)

// SweepResult says what one sweep charged.
type SweepResult struct {
	// Hours is the number of hours charged by this sweep (an hour another
	// sweep charged meanwhile is not counted).
	Hours int
	// Charges is the number of (app, hour) ledger rows written.
	Charges int64
	// TotalMicros is the sum charged.
	TotalMicros int64
	// Next is the first hour still to charge.
	Next time.Time
	// Due is when Next becomes chargeable (its end plus the meter's max gap).
	Due time.Time
}

// Sweep charges every complete hour not yet charged whose end lies at least
// settle (the meter's max gap) before until, oldest first, each hour in one
// set-based statement and its own transaction: a sweep killed midway keeps
// the hours it finished, and the next one carries on. Concurrent sweeps
// queue on an advisory lock; the unique ledger reference charge:<app>:<hour>
// makes a double charge impossible either way. now stamps the swept hours.
func Sweep(ctx context.Context, st *store.Store, until time.Time, settle time.Duration, now func() time.Time) (SweepResult, error) {
	var res SweepResult
	var first *time.Time
	err := st.Pool.QueryRow(ctx, `SELECT COALESCE((SELECT max(hour) + interval '1 hour' FROM paas_billing_hours),
		(SELECT date_trunc('hour', min(started_at), 'UTC') FROM paas_usage_intervals))`).Scan(&first)
	if err != nil {
		return res, fmt.Errorf("first hour to charge: %w", err)
	}
	last := until.Add(-settle).UTC().Truncate(time.Hour) // hours before last are complete and settled
	if first == nil {
		res.Next = last
		res.Due = last.Add(time.Hour + settle)
		return res, nil // nothing metered yet
	}
	h := first.UTC()
	for ; h.Before(last); h = h.Add(time.Hour) {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		row, err := st.SweepHour(ctx, store.SweepHourParams{Hour: h, Now: now()})
		if err != nil {
			return res, fmt.Errorf("charge %s: %w", h.Format(time.RFC3339), err)
		}
		if !row.Skipped {
			res.Hours++
			res.Charges += int64(row.Charges)
			res.TotalMicros += row.TotalMicros
		}
	}
	res.Next = h
	res.Due = h.Add(time.Hour + settle)
	return res, nil
}

// HourReference is the ledger reference of an app's charge for an hour.
func HourReference(app string, hour time.Time) string {
	return "charge:" + app + ":" + hour.UTC().Format("2006-01-02T15Z")
}
