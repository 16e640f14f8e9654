// Package billing holds the billing loops: the meter loop (kind app)
// records the replica intervals that really ran and owns each app's
// Suspended condition; the wallet loop (kind org) turns a balance at or
// under the threshold into a suspension (InsufficientFunds), a credit above
// it into a restore, and writes the runway notifications; the sweep loop
// (cron, on the leader) charges complete hours.
//
// Money is integer micro-units. The rounding rule (schema/00013_billing.sql),
// applied once per (app, hour): charge = round half up of the sum over the
// app's intervals in that hour of replicas x seconds x price_hourly_micros /
// 3600, seconds exact to the microsecond; an hour that rounds to 0 writes no
// ledger row. The ledger reference charge:<app>:<hour> is unique, so no
// (app, hour) is ever charged twice.
package billing

import (
	"context"
	"time"

	"github.com/skypanel/paas/store"
)

// Settings (paas_settings) and their defaults.
const (
	SettingCurrency      = "billing_currency"
	SettingThreshold     = "billing_suspend_threshold_micros"
	SettingInitialCredit = "billing_initial_credit_micros"
	SettingSchedule      = "billing_sweep_schedule"
	SettingMaxGap        = "billing_meter_max_gap_seconds"

	DefaultSchedule = "0 * * * *"
	DefaultMaxGap   = 90 * time.Second
	DefaultCurrency = "USD"
)

// ChannelBilling carries org/<uuid> whenever an organization's ledger moves.
const ChannelBilling = "paas_billing"

// MaxGap reads the longest pause between two observations of an app that
// still counts as continuous running (billing_meter_max_gap_seconds). The
// sweep waits as long after an hour's end before charging it, so no
// observation can extend an interval into a charged hour.
func MaxGap(ctx context.Context, q store.SettingGetter) (time.Duration, error) {
	n, err := store.IntSetting(ctx, q, SettingMaxGap, int64(DefaultMaxGap/time.Second))
	if err != nil {
		return 0, err
	}
	if n <= 0 {
		n = int64(DefaultMaxGap / time.Second)
	}
	return time.Duration(n) * time.Second, nil
}

// Threshold reads the balance at or under which an organization is suspended.
func Threshold(ctx context.Context, q store.SettingGetter) (int64, error) {
	return store.IntSetting(ctx, q, SettingThreshold, 0)
}

// Currency reads the currency of every amount (billing_currency).
func Currency(ctx context.Context, q store.SettingGetter) (string, error) {
	c, err := store.StringSetting(ctx, q, SettingCurrency)
	if err != nil || c == "" {
		return DefaultCurrency, err
	}
	return c, nil
}
