package store_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/skypanel/paas/store"
	"github.com/skypanel/paas/store/storetest"
)

type fixture struct {
	s   *store.Store
	url string
	org store.Organization
	app store.App
}

// setup returns a fresh database holding one organization with one app.
func setup(t *testing.T) fixture {
	t.Helper()
	ctx := context.Background()
	url := storetest.NewURL(t)
	s, err := store.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	org, err := s.CreateOrganization(ctx, store.CreateOrganizationParams{Name: "Acme", Slug: "acme"})
	if err != nil {
		t.Fatal(err)
	}
	plan, err := s.GetPlanByName(ctx, "hobby")
	if err != nil {
		t.Fatal(err)
	}
	app, err := s.CreateApp(ctx, store.CreateAppParams{
		OrganizationID: org.ID, Name: "web", ServiceName: "acme-web", Image: "paas-testapp:v1",
		Replicas: 1, Port: 8080, Command: []string{}, PlanID: plan.ID,
	})
	if err != nil {
		t.Fatal(err)
	}
	return fixture{s: s, url: url, org: org, app: app}
}

func specOf(a store.App) store.UpdateAppSpecParams { return store.SpecParams(a) }

func TestSpecUpdateBumpsGenerationAndNotifies(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	listener, err := pgx.Connect(ctx, f.url)
	if err != nil {
		t.Fatal(err)
	}
	defer listener.Close(context.Background())
	if _, err := listener.Exec(ctx, "LISTEN paas_desired"); err != nil {
		t.Fatal(err)
	}

	p := specOf(f.app)
	p.Image = "paas-testapp:v2"
	updated, err := f.s.UpdateAppSpec(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	if updated.Generation != f.app.Generation+1 {
		t.Fatalf("generation = %d, want %d", updated.Generation, f.app.Generation+1)
	}
	if updated.Version != f.app.Version+1 {
		t.Fatalf("version = %d, want %d", updated.Version, f.app.Version+1)
	}
	n, err := listener.WaitForNotification(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := "app/" + f.app.ID.String(); n.Channel != "paas_desired" || n.Payload != want {
		t.Fatalf("notification = %s %q, want paas_desired %q", n.Channel, n.Payload, want)
	}

	// A status write is not a spec change: generation stays, no desired-state
	// notification (version still moves, as Kubernetes' resourceVersion does).
	if err := f.s.UpdateAppStatus(ctx, store.UpdateAppStatusParams{
		ID: f.app.ID, ObservedGeneration: updated.Generation, Phase: "Running", Conditions: json.RawMessage(`[]`),
	}); err != nil {
		t.Fatal(err)
	}
	after, err := f.s.GetApp(ctx, f.app.ID)
	if err != nil {
		t.Fatal(err)
	}
	if after.Generation != updated.Generation || after.ObservedGeneration != updated.Generation {
		t.Fatalf("after status write: generation %d observed %d", after.Generation, after.ObservedGeneration)
	}
	quiet, stop := context.WithTimeout(ctx, 300*time.Millisecond)
	defer stop()
	if n, err := listener.WaitForNotification(quiet); err == nil {
		t.Fatalf("status write sent a desired-state notification: %+v", n)
	}
}

func TestEnvChangeBumpsGeneration(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx := context.Background()
	if err := f.s.UpsertEnvVar(ctx, store.UpsertEnvVarParams{AppID: f.app.ID, Key: "FOO", ValueEncrypted: []byte{1}}); err != nil {
		t.Fatal(err)
	}
	got, err := f.s.GetApp(ctx, f.app.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Generation != f.app.Generation+1 || got.EnvRevision != 1 {
		t.Fatalf("generation %d env_revision %d after env change", got.Generation, got.EnvRevision)
	}
}

func TestStaleVersionUpdateIsRefused(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx := context.Background()

	first := specOf(f.app)
	first.Replicas = 2
	if _, err := f.s.UpdateAppSpec(ctx, first); err != nil {
		t.Fatal(err)
	}
	stale := specOf(f.app) // still carries the version read before the first write
	stale.Replicas = 5
	_, err := f.s.UpdateAppSpec(ctx, stale)
	if !store.IsNotFound(err) {
		t.Fatalf("stale update err = %v, want no row (conflict)", err)
	}
	got, _ := f.s.GetApp(ctx, f.app.ID)
	if got.Replicas != 2 {
		t.Fatalf("replicas = %d after refused update, want 2", got.Replicas)
	}
}

func TestDomainHostnameIsUniqueAcrossInstallation(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx := context.Background()
	other, err := f.s.CreateOrganization(ctx, store.CreateOrganizationParams{Name: "Other", Slug: "other"})
	if err != nil {
		t.Fatal(err)
	}
	otherApp, err := f.s.CreateApp(ctx, store.CreateAppParams{
		OrganizationID: other.ID, Name: "web", ServiceName: "other-web", Image: "x", Replicas: 1, Port: 80,
		Command: []string{}, PlanID: f.app.PlanID,
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.s.CreateDomain(ctx, store.CreateDomainParams{AppID: f.app.ID, Hostname: "shop.example.com"}); err != nil {
		t.Fatal(err)
	}
	_, err = f.s.CreateDomain(ctx, store.CreateDomainParams{AppID: otherApp.ID, Hostname: "shop.example.com"})
	if c, ok := store.IsUniqueViolation(err); !ok || c != "paas_domains_hostname_key" {
		t.Fatalf("second claim err = %v, want unique violation of paas_domains_hostname_key", err)
	}
}

func TestDeploymentVersionsAreDenseAndIdempotentPerGeneration(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx := context.Background()
	cut := func(gen int64) (store.Deployment, error) {
		return f.s.CreateDeployment(ctx, store.CreateDeploymentParams{
			AppID: f.app.ID, Generation: gen, Spec: json.RawMessage(`{}`), Image: "x",
		})
	}
	d1, err := cut(1)
	if err != nil || d1.Version != 1 {
		t.Fatalf("first release = %+v, %v", d1, err)
	}
	if _, err := cut(1); !store.IsNotFound(err) {
		t.Fatalf("repeat for the same generation err = %v, want no row", err)
	}
	d2, err := cut(3)
	if err != nil || d2.Version != 2 {
		t.Fatalf("second release = %+v, %v", d2, err)
	}
}

func TestLedgerIsAppendOnlyAndFeedsWallet(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx := context.Background()
	start, err := f.s.GetWallet(ctx, f.org.ID) // the initial credit (billing_initial_credit_micros)
	if err != nil {
		t.Fatal(err)
	}
	ref := "topup-1"
	e, err := f.s.InsertLedgerEntry(ctx, store.InsertLedgerEntryParams{OrganizationID: f.org.ID, AmountMicros: 5_000_000, Kind: "topup", Reference: &ref})
	if err != nil {
		t.Fatal(err)
	}
	charge := "charge-1"
	if _, err := f.s.InsertLedgerEntry(ctx, store.InsertLedgerEntryParams{OrganizationID: f.org.ID, AmountMicros: -6900, Kind: "charge", Reference: &charge}); err != nil {
		t.Fatal(err)
	}
	w, err := f.s.GetWallet(ctx, f.org.ID)
	if err != nil || w.BalanceMicros != start.BalanceMicros+5_000_000-6900 {
		t.Fatalf("wallet = %+v, %v", w, err)
	}
	if _, err := f.s.Pool.Exec(ctx, "UPDATE paas_ledger SET amount_micros = 1 WHERE id = $1", e.ID); err == nil {
		t.Fatal("ledger row updated")
	}
	if _, err := f.s.Pool.Exec(ctx, "DELETE FROM paas_ledger WHERE id = $1", e.ID); err == nil {
		t.Fatal("ledger row deleted")
	}
	if _, err := f.s.InsertLedgerEntry(ctx, store.InsertLedgerEntryParams{OrganizationID: f.org.ID, AmountMicros: -6900, Kind: "charge", Reference: &charge}); err == nil {
		t.Fatal("the same charge reference was accepted twice")
	}
	var sum int64
	if err := f.s.Pool.QueryRow(ctx, "SELECT sum(amount_micros) FROM paas_ledger WHERE organization_id = $1", f.org.ID).Scan(&sum); err != nil || sum != w.BalanceMicros {
		t.Fatalf("ledger sum %d, wallet %d, %v", sum, w.BalanceMicros, err)
	}
}

func TestEventsAreDeduplicatedWithCount(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx := context.Background()
	rec := func(at time.Time) store.Event {
		ev, err := f.s.RecordEvent(ctx, store.RecordEventParams{
			ObjectKind: "app", ObjectID: f.app.ID, Type: "Normal", Reason: "Created",
			Message: "created service acme-web", ReportingController: "app", At: at,
		})
		if err != nil {
			t.Fatal(err)
		}
		return ev
	}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	first := rec(t0)
	second := rec(t0.Add(time.Minute))
	if second.ID != first.ID || second.Count != 2 || !second.LastTimestamp.Equal(t0.Add(time.Minute)) || !second.FirstTimestamp.Equal(t0) {
		t.Fatalf("repeat event = %+v, want same row with count 2", second)
	}
	list, err := f.s.ListEvents(ctx, store.ListEventsParams{ObjectKind: "app", ObjectID: f.app.ID, Limit: 10})
	if err != nil || len(list) != 1 {
		t.Fatalf("events = %d, %v", len(list), err)
	}
	if _, err := f.s.ListEvents(ctx, store.ListEventsParams{ObjectKind: "app", ObjectID: uuid.New(), Limit: 10}); err != nil {
		t.Fatal(err)
	}
}

func TestSeededPlans(t *testing.T) {
	t.Parallel()
	f := setup(t)
	plans, err := f.s.ListPlans(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		name             string
		cpu, mem, maxRep int32
		price            int64
	}{{"hobby", 500, 512, 1, 6900}, {"standard", 1000, 1024, 3, 34700}, {"pro", 2000, 2048, 10, 69400}, {"business", 4000, 4096, 20, 138900}}
	if len(plans) != len(want) {
		t.Fatalf("%d plans, want %d", len(plans), len(want))
	}
	for i, w := range want {
		p := plans[i]
		if p.Name != w.name || p.CpuMillis != w.cpu || p.MemoryMb != w.mem || p.MaxReplicas != w.maxRep || p.PriceHourlyMicros != w.price {
			t.Errorf("plan %d = %+v, want %+v", i, p, w)
		}
	}
}

func TestMigrateTwiceChangesNothing(t *testing.T) {
	t.Parallel()
	f := setup(t) // already migrated through the template
	applied, err := store.Migrate(context.Background(), f.url)
	if err != nil {
		t.Fatal(err)
	}
	if len(applied) != 0 {
		t.Fatalf("second migrate applied %v", applied)
	}
}
