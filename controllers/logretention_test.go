package controllers

import (
	"context"
	"testing"
	"time"

	"github.com/skypanel/paas/store"
	"github.com/skypanel/paas/store/key"
	"github.com/skypanel/paas/store/storetest"
)

// TestHousekeepingLogRetentionFollowsLoki: without the setting
// retention_release_logs_days, rollout logs are kept LOKI_RETENTION_DAYS
// (Manager.LogRetentionDays); the setting still wins.
func TestHousekeepingLogRetentionFollowsLoki(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := storetest.New(t)
	org, err := s.CreateOrganization(ctx, store.CreateOrganizationParams{Name: "Acme", Slug: "acme"})
	if err != nil {
		t.Fatal(err)
	}
	plan, err := s.GetPlanByName(ctx, "hobby")
	if err != nil {
		t.Fatal(err)
	}
	a, err := s.CreateApp(ctx, store.CreateAppParams{OrganizationID: org.ID, Name: "web", ServiceName: "x-web",
		Image: "paas-testapp:v1", Replicas: 1, Port: 8080, Command: []string{}, PlanID: plan.ID})
	if err != nil {
		t.Fatal(err)
	}
	for v, age := range map[int]string{1: "10 days", 2: "4 days", 3: "1 day"} {
		if _, err := s.Pool.Exec(ctx, `INSERT INTO paas_deployments (app_id, version, generation, spec, image, status, log, finished_at)
			VALUES ($1, $2::int, $2::bigint, '{}', 'paas-testapp:v1', 'deployed', 'build log', now() - $3::interval)`, a.ID, v, age); err != nil {
			t.Fatal(err)
		}
	}
	withLog := func() (n int) {
		if err := s.Pool.QueryRow(ctx, `SELECT count(*) FROM paas_deployments WHERE app_id = $1 AND log <> ''`, a.ID).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	m := &Manager{Store: s, Now: time.Now, TombstoneRetention: time.Hour, LogRetentionDays: 7}
	if _, err := m.housekeeping(ctx, key.Key{}); err != nil {
		t.Fatal(err)
	}
	if n := withLog(); n != 2 {
		t.Fatalf("%d releases with logs after LOKI_RETENTION_DAYS=7, want 2", n)
	}
	m.LogRetentionDays = 3
	if _, err := m.housekeeping(ctx, key.Key{}); err != nil {
		t.Fatal(err)
	}
	if n := withLog(); n != 1 {
		t.Fatalf("%d releases with logs after LOKI_RETENTION_DAYS=3, want 1", n)
	}
	// The setting wins over LOKI_RETENTION_DAYS.
	if _, err := s.Pool.Exec(ctx, `INSERT INTO paas_settings (key, value) VALUES ('retention_release_logs_days', '0')`); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Pool.Exec(ctx, `UPDATE paas_deployments SET log = 'again' WHERE app_id = $1`, a.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := m.housekeeping(ctx, key.Key{}); err != nil {
		t.Fatal(err)
	}
	if n := withLog(); n != 3 {
		t.Fatalf("%d releases with logs with retention_release_logs_days=0, want 3 (kept for ever)", n)
	}
}
