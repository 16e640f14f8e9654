// Package billing holds the money rules shared by the billing loops
// (controllers/billing), the API and `paasd billing sweep`: settings, the
// hourly sweep and amounts.
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
	"fmt"
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

// Micros formats an amount of micro-units as units with six decimals.
func Micros(n int64) string {
	sign := ""
	if n < 0 {
		sign, n = "-", -n
	}
	return fmt.Sprintf("%s%d.%06d", sign, n/1_000_000, n%1_000_000)
}

// RunwayHours is how long the balance lasts at the burn rate (nil: for ever).
func RunwayHours(balance, threshold, burnPerHour int64) *float64 {
	if burnPerHour <= 0 {
		return nil
	}
	h := max(float64(balance-threshold), 0) / float64(burnPerHour)
	return &h
}

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
