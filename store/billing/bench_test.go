package billing_test

import (
	"context"
	"testing"
	"time"

	"github.com/skypanel/paas/store/billing"
	"github.com/skypanel/paas/store/storetest"
)

// BenchmarkSweep charges 100,000 apps (10,000 organizations) with a day of
// metered intervals (three per app, replicas 1-3 changing at random times,
// 300,000 rows) on real Postgres. It reports, in seconds:
//
//   - catchup-23h-s: the first sweep, catching up 23 hours at once (2.3
//     million charges);
//   - hourly-s: the hourly sweep of the day's last hour over every app
//     (100,000 charges), with the whole day of intervals in the table;
//   - rerun-s: the same sweep again, which charges nothing.
//
// Run: go test ./store/billing/ -run '^$' -bench BenchmarkSweep -benchtime 1x
func BenchmarkSweep(b *testing.B) {
	ctx := context.Background()
	st := storetest.New(b)
	day := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, q := range []string{
		`UPDATE paas_settings SET value = '0' WHERE key = 'billing_initial_credit_micros'`,
		`SELECT setseed(0.42)`,
		`INSERT INTO paas_organizations (name, slug) SELECT 'o', 'o' || g FROM generate_series(1, 10000) g`,
		`CREATE TEMP TABLE bench_apps AS
		   SELECT gen_random_uuid() AS app, o.id AS org, (1000 + (random() * 100000)::int)::bigint AS price
		     FROM paas_organizations o, generate_series(1, 10)`,
		`INSERT INTO paas_usage_intervals (app_id, app_name, organization_id, price_hourly_micros, replicas, started_at, last_seen_at, open)
		 SELECT a.app, 'app', a.org, a.price, 1 + (random() * 2)::int,
		        $1::timestamptz + s.lo * interval '8 hours' + CASE WHEN s.lo = 0 THEN interval '0' ELSE random() * interval '1 minute' END,
		        $1::timestamptz + s.hi * interval '8 hours', s.hi = 3
		   FROM bench_apps a, (VALUES (0, 1), (1, 2), (2, 3)) AS s(lo, hi)`,
		`ANALYZE`,
	} {
		args := []any{}
		if len(q) > 40 && q[:40] == `INSERT INTO paas_usage_intervals (app_id` {
			args = append(args, day)
		}
		if _, err := st.Pool.Exec(ctx, q, args...); err != nil {
			b.Fatalf("%s: %v", q, err)
		}
	}
	now := func() time.Time { return day.Add(25 * time.Hour) }
	sweep := func(until time.Time) (billing.SweepResult, time.Duration) {
		start := time.Now()
		res, err := billing.Sweep(ctx, st.Pool, until, 0, now)
		if err != nil {
			b.Fatal(err)
		}
		return res, time.Since(start)
	}
	b.ResetTimer()
	for range b.N {
		catchup, tc := sweep(day.Add(23 * time.Hour))
		hourly, th := sweep(day.Add(24 * time.Hour))
		rerun, tr := sweep(day.Add(24 * time.Hour))
		if catchup.Charges != 23*100_000 || hourly.Charges != 100_000 || rerun.Charges != 0 {
			b.Fatalf("charges: catch-up %d, hourly %d, re-run %d", catchup.Charges, hourly.Charges, rerun.Charges)
		}
		b.ReportMetric(tc.Seconds(), "catchup-23h-s")
		b.ReportMetric(th.Seconds(), "hourly-s")
		b.ReportMetric(tr.Seconds(), "rerun-s")
		b.StopTimer()
		if _, err := st.Pool.Exec(ctx, `ALTER TABLE paas_ledger DISABLE TRIGGER paas_ledger_append_only`); err != nil {
			b.Fatal(err)
		}
		for _, q := range []string{`DELETE FROM paas_ledger WHERE kind = 'charge'`, `DELETE FROM paas_billing_hours`, `UPDATE paas_wallets SET balance_micros = 0`, `VACUUM ANALYZE paas_ledger`} {
			if _, err := st.Pool.Exec(ctx, q); err != nil {
				b.Fatal(err)
			}
		}
		if _, err := st.Pool.Exec(ctx, `ALTER TABLE paas_ledger ENABLE TRIGGER paas_ledger_append_only`); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
}
