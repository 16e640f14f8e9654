package billing_test

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/skypanel/paas/store"
	"github.com/skypanel/paas/store/billing"
	"github.com/skypanel/paas/store/storetest"
)

var (
	seedFlag      = flag.Uint64("billing.seed", 0, "seed of TestBillingRandomSequences (0: random)")
	sequencesFlag = flag.Int("billing.sequences", 1000, "sequences of TestBillingRandomSequences")
)

const maxGap = 90 * time.Second

// modelInterval mirrors a row of paas_usage_intervals.
type modelInterval struct {
	replicas    int32
	price       int64
	start, last time.Time
}

// modelApp is what the test believes about one app: what runs, and the
// intervals paas_meter must have recorded (the same rules, written again).
type modelApp struct {
	id       uuid.UUID
	org      uuid.UUID
	desired  int32
	stopped  bool
	crashed  bool
	price    int64
	open     *modelInterval
	closed   []modelInterval
	lastSeen time.Time // newest last_seen of any interval
}

func (a *modelApp) running() int32 {
	if a.stopped || a.crashed {
		return 0
	}
	return a.desired
}

// observe applies paas_meter's rules to the model.
func (a *modelApp) observe(now time.Time, replicas int32) {
	if a.open != nil {
		if !now.After(a.open.last) {
			return
		}
		if now.Sub(a.open.last) <= maxGap {
			if a.open.replicas == replicas && a.open.price == a.price {
				a.open.last, a.lastSeen = now, now
				return
			}
			a.open.last, a.lastSeen = now, now
		}
		a.closed = append(a.closed, *a.open)
		a.open = nil
	} else if !a.lastSeen.IsZero() && !now.After(a.lastSeen) {
		return
	}
	if replicas > 0 {
		a.open = &modelInterval{replicas: replicas, price: a.price, start: now, last: now}
		a.lastSeen = now
	}
}

// expected returns the charge of every (app, hour) under the rounding rule:
// round half up of sum(replicas * microseconds * price) / (3600 * 10^6).
func (a *modelApp) expected() map[string]int64 {
	num := map[time.Time]int64{}
	all := a.closed
	if a.open != nil {
		all = append(all[:len(all):len(all)], *a.open)
	}
	for _, iv := range all {
		for h := iv.start.Truncate(time.Hour); h.Before(iv.last); h = h.Add(time.Hour) {
			from, to := maxT(iv.start, h), minT(iv.last, h.Add(time.Hour))
			if to.After(from) {
				num[h] += int64(iv.replicas) * to.Sub(from).Microseconds() * iv.price
			}
		}
	}
	out := map[string]int64{}
	const den = 3600 * 1_000_000
	for h, n := range num {
		if c := (n + den/2) / den; c > 0 {
			out[billing.HourReference(a.id.String(), h)] = c
		}
	}
	return out
}

func maxT(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func minT(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// TestBillingRandomSequences runs random sequences of scale, stop, start,
// crash, credit, debit, clock advance, sweep, concurrent sweeps, a sweep
// killed midway and re-run, and a leader change (observations pause, and
// the old leader's late write arrives) against real Postgres, and checks
// that the charges are exactly the metered replica-seconds times the
// prices under the rounding rule, that no (app, hour) is charged twice and
// that every wallet equals its ledger's sum. Sequences share one database
// and one clock (the swept hours are global); each uses fresh organizations.
func TestBillingRandomSequences(t *testing.T) {
	seed := *seedFlag
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	t.Logf("seed %d (rerun: go test ./store/billing/ -run TestBillingRandomSequences -billing.seed=%d)", seed, seed)
	defer func() {
		if t.Failed() {
			t.Logf("FAILED with seed %d: go test ./store/billing/ -run TestBillingRandomSequences -billing.seed=%d", seed, seed)
		}
	}()
	// Workers run sequences in parallel, each on a database of its own
	// (the swept hours are global, so sequences sharing a database share
	// one clock); worker w draws from the seed's stream w.
	const workers = 8
	var wg sync.WaitGroup
	for w := range workers {
		st := fastStore(t)
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(seed, uint64(w)))
			ctx := context.Background()
			if _, err := st.Pool.Exec(ctx, `UPDATE paas_settings SET value = '0' WHERE key = 'billing_initial_credit_micros'`); err != nil {
				t.Error(err)
				return
			}
			clock := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
			tick := func() time.Time { return clock }
			sweep := func(ctx context.Context, kill time.Duration) error {
				if kill == 0 {
					_, err := billing.Sweep(ctx, st.Pool, clock, maxGap, tick)
					return err
				}
				// Killed midway: the server stops the statement after
				// kill, as a crash would, and rolls it back. On a
				// connection of its own, closed after: a pooled one could
				// carry the timeout into the next sweep.
				conn, err := pgx.ConnectConfig(ctx, st.Pool.Config().ConnConfig.Copy())
				if err != nil {
					return err
				}
				defer conn.Close(context.Background())
				if _, err := conn.Exec(ctx, fmt.Sprintf("SET statement_timeout = %d", kill.Microseconds()/1000+1)); err != nil {
					return err
				}
				_, _ = billing.Sweep(ctx, conn, clock, maxGap, tick)
				return nil
			}
			for seq := w; seq < *sequencesFlag; seq += workers {
				if err := runSequence(ctx, st, rng, &clock, sweep); err != nil {
					t.Errorf("worker %d, sequence %d: %v", w, seq, err)
					return
				}
			}
		}()
	}
	wg.Wait()
}

func runSequence(ctx context.Context, st *store.Store, rng *rand.Rand, clock *time.Time, sweep func(context.Context, time.Duration) error) error {
	var orgs []uuid.UUID
	var apps []*modelApp
	for i := range 1 + rng.IntN(2) {
		o, err := st.CreateOrganization(ctx, store.CreateOrganizationParams{Name: "o", Slug: fmt.Sprintf("o%s-%d", uuid.NewString()[:8], i)})
		if err != nil {
			return err
		}
		orgs = append(orgs, o.ID)
		for range 1 + rng.IntN(2) {
			apps = append(apps, &modelApp{id: uuid.New(), org: o.ID, desired: int32(1 + rng.IntN(3)), price: int64(rng.IntN(150_000))})
		}
	}
	observe := func(a *modelApp) error {
		r := a.running()
		a.observe(*clock, r)
		return st.MeterApp(ctx, store.MeterAppParams{AppID: a.id, AppName: "a", OrganizationID: a.org, PriceHourlyMicros: a.price,
			Replicas: r, Now: *clock, MaxGapSeconds: maxGap.Seconds()})
	}
	advance := func(max time.Duration) {
		*clock = clock.Add(time.Duration(1+rng.Int64N(int64(max)/1000)) * time.Microsecond)
	}
	steps := 10 + rng.IntN(20)
	for range steps {
		a := apps[rng.IntN(len(apps))]
		var err error
		switch op := rng.IntN(18) % 14; op { // 0-3 twice as likely as the rest
		case 0: // scale
			a.desired = int32(rng.IntN(5))
			err = observe(a)
		case 1: // stop / start
			a.stopped = !a.stopped
			err = observe(a)
		case 2: // crash loop begins or ends
			a.crashed = !a.crashed
			err = observe(a)
		case 3: // plan price change
			a.price = int64(rng.IntN(150_000))
			err = observe(a)
		case 4, 5: // credit or debit
			amt := int64(1 + rng.IntN(1_000_000))
			if op == 5 {
				amt = -amt
			}
			_, err = st.InsertLedgerEntry(ctx, store.InsertLedgerEntryParams{OrganizationID: a.org, AmountMicros: amt, Kind: "adjustment", Description: "test"})
		case 6, 7: // the clock moves, every app is observed (a resync)
			advance(time.Duration(1+rng.IntN(60)) * time.Minute)
			for _, x := range apps {
				if err = observe(x); err != nil {
					break
				}
			}
		case 8: // the clock moves with nobody watching
			advance(3 * time.Hour)
		case 9:
			err = sweep(ctx, 0)
		case 10: // concurrent sweeps
			var wg sync.WaitGroup
			errs := make([]error, 2+rng.IntN(2))
			for i := range errs {
				wg.Add(1)
				go func() { defer wg.Done(); errs[i] = sweep(ctx, 0) }()
			}
			wg.Wait()
			for _, e := range errs {
				if e != nil {
					err = e
				}
			}
		case 11: // a sweep killed midway, then run again
			if err = sweep(ctx, time.Duration(1+rng.IntN(4))*time.Millisecond); err == nil {
				err = sweep(ctx, 0)
			}
		case 12: // leader change: the old leader's late observation, a pause, the new leader observes
			old := *clock
			advance(2 * maxGap)
			late := old.Add(-time.Duration(rng.IntN(30)) * time.Second)
			a.observe(late, a.running())
			if err = st.MeterApp(ctx, store.MeterAppParams{AppID: a.id, AppName: "a", OrganizationID: a.org, PriceHourlyMicros: a.price,
				Replicas: a.running(), Now: late, MaxGapSeconds: maxGap.Seconds()}); err == nil {
				for _, x := range apps {
					if err = observe(x); err != nil {
						break
					}
				}
			}
		case 13:
			err = observe(a)
		}
		if err != nil {
			return err
		}
	}
	// Let every hour of this sequence complete and settle, then charge.
	*clock = clock.Add(time.Hour + maxGap + time.Second)
	if err := sweep(ctx, 0); err != nil {
		return err
	}
	*clock = clock.Add(time.Hour) // the next sequence starts in a fresh hour
	return check(ctx, st, orgs, apps)
}

func check(ctx context.Context, st *store.Store, orgs []uuid.UUID, apps []*modelApp) error {
	want := map[string]int64{}
	for _, a := range apps {
		for ref, c := range a.expected() {
			want[ref] = c
		}
	}
	rows, err := st.Pool.Query(ctx, `SELECT reference, amount_micros FROM paas_ledger WHERE kind = 'charge' AND organization_id = ANY($1)`, orgs)
	if err != nil {
		return err
	}
	got := map[string]int64{}
	for rows.Next() {
		var ref string
		var amt int64
		if err := rows.Scan(&ref, &amt); err != nil {
			return err
		}
		if _, dup := got[ref]; dup {
			return fmt.Errorf("%s charged twice", ref)
		}
		got[ref] = -amt
	}
	if err := rows.Err(); err != nil {
		return err
	}
	var wantTotal, gotTotal int64
	for ref, c := range want {
		wantTotal += c
		if got[ref] != c {
			return fmt.Errorf("%s: charged %d, metered %d", ref, got[ref], c)
		}
	}
	for ref, c := range got {
		gotTotal += c
		if _, ok := want[ref]; !ok {
			return fmt.Errorf("%s: charged %d for nothing metered", ref, c)
		}
	}
	if wantTotal != gotTotal {
		return fmt.Errorf("charged %d in total, metered %d", gotTotal, wantTotal)
	}
	for _, o := range orgs {
		var balance, sum int64
		if err := st.Pool.QueryRow(ctx, `SELECT (SELECT balance_micros FROM paas_wallets WHERE organization_id = $1),
			(SELECT COALESCE(sum(amount_micros), 0) FROM paas_ledger WHERE organization_id = $1)`, o).Scan(&balance, &sum); err != nil {
			return err
		}
		if balance != sum {
			return fmt.Errorf("org %s: wallet %d, ledger sum %d", o, balance, sum)
		}
	}
	return nil
}

// fastStore opens a fresh database without waiting for each commit's
// flush to disk (synchronous_commit=off): the test proves logic, not
// durability, and thousands of small commits would otherwise wait on the
// disk of a shared machine.
func fastStore(t *testing.T) *store.Store {
	cfg, err := pgxpool.ParseConfig(storetest.NewURL(t))
	if err != nil {
		t.Fatal(err)
	}
	cfg.ConnConfig.RuntimeParams["synchronous_commit"] = "off"
	cfg.MinConns, cfg.MaxConns = 4, 8
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return store.Wrap(pool)
}
