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
// settle (the meter's max gap) before until: set-based SQL over all apps. Concurrent sweeps
// queue on an advisory lock; the unique ledger reference charge:<app>:<hour>
// makes a double charge impossible either way. now stamps the swept hours.
// db is the pool (or one connection).
func Sweep(ctx context.Context, db store.DBTX, until time.Time, settle time.Duration, now func() time.Time) (SweepResult, error) {
	var res SweepResult
	st := store.New(db)
	var first *time.Time
	err := db.QueryRow(ctx, `SELECT COALESCE((SELECT max(hour) + interval '1 hour' FROM paas_billing_hours),
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
	// One statement (one transaction) per day of hours: a long catch-up
	// commits as it goes, and a sweep killed midway keeps the days it
	// finished; the next sweep carries on.
	h := first.UTC()
	for h.Before(last) {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		to := h.Add(24 * time.Hour)
		if to.After(last) {
			to = last
		}
		row, err := st.SweepHours(ctx, store.SweepHoursParams{Since: h, Until: to, Now: now()})
		if err != nil {
			return res, fmt.Errorf("charge %s to %s: %w", h.Format(time.RFC3339), to.Format(time.RFC3339), err)
		}
		res.Hours += int(row.Hours)
		res.Charges += int64(row.Charges)
		res.TotalMicros += row.TotalMicros
		h = to
	}
	res.Next = h
	res.Due = h.Add(time.Hour + settle)
	return res, nil
}

// HourReference is the ledger reference of an app's charge for an hour.
func HourReference(app string, hour time.Time) string {
	return "charge:" + app + ":" + hour.UTC().Format("2006-01-02T15Z")
}
