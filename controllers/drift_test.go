package controllers_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types"
	"github.com/docker/docker/api/types/swarm"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/skypanel/paas/controllers"
	paasswarm "github.com/skypanel/paas/controllers/swarm"
	"github.com/skypanel/paas/controllers/swarm/swarmtest"
	"github.com/skypanel/paas/store"
)

// TestHandEditsAreRepaired edits a running app's service by hand, as an
// operator with the docker CLI would, and expects each edit reverted and
// recorded as an event.
func TestHandEditsAreRepaired(t *testing.T) {
	t.Parallel()
	e := setup(t)
	a := e.createApp("drift", "paas-testapp:v1", 2, nil)
	e.waitReady(a.ID, 90*time.Second)

	t.Run("scale", func(t *testing.T) {
		dockerCLI(t, "service", "scale", "--detach", a.ServiceName+"=5")
		ev := e.waitEvent(a.ID, "DriftReverted", "replicas 5 -> 2", 30*time.Second)
		if ev.Type != "Warning" {
			t.Fatalf("event %+v", ev)
		}
		swarmtest.Eventually(t, 60*time.Second, "replicas back to 2", func() bool {
			svc, ok := e.service(a.ID)
			return ok && *svc.Spec.Mode.Replicated.Replicas == 2
		})
	})

	t.Run("env-add", func(t *testing.T) {
		dockerCLI(t, "service", "update", "--detach", "--env-add", "INJECTED=secret-value", a.ServiceName)
		ev := e.waitEvent(a.ID, "DriftReverted", "env INJECTED", 30*time.Second)
		if strings.Contains(ev.Message, "secret-value") {
			t.Fatalf("drift event leaks the env value: %q", ev.Message)
		}
		swarmtest.Eventually(t, 60*time.Second, "env reverted", func() bool {
			svc, ok := e.service(a.ID)
			return ok && !hasEnv(svc, "INJECTED")
		})
	})

	t.Run("label-add", func(t *testing.T) {
		dockerCLI(t, "service", "update", "--detach", "--label-add", "paas.x=y", a.ServiceName)
		e.waitEvent(a.ID, "DriftReverted", "paas.x", 30*time.Second)
		swarmtest.Eventually(t, 60*time.Second, "label removed", func() bool {
			svc, ok := e.service(a.ID)
			_, has := svc.Spec.Labels["paas.x"]
			return ok && !has
		})
	})

	t.Run("unowned-label-add", func(t *testing.T) {
		// No loop declares "foo": the app loop owns the rest of the spec,
		// so a hand-added label is drift it removes.
		dockerCLI(t, "service", "update", "--detach", "--label-add", "foo=bar", a.ServiceName)
		ev := e.waitEvent(a.ID, "DriftReverted", "label foo removed", 30*time.Second)
		if ev.Type != "Warning" || ev.ReportingController != "app" {
			t.Fatalf("event %+v", ev)
		}
		swarmtest.Eventually(t, 60*time.Second, "label foo removed", func() bool {
			svc, ok := e.service(a.ID)
			_, has := svc.Spec.Labels["foo"]
			return ok && !has && svc.Spec.Labels["paas.app.id"] == a.ID.String()
		})
	})

	t.Run("rm", func(t *testing.T) {
		before, _ := e.service(a.ID)
		dockerCLI(t, "service", "rm", a.ServiceName)
		swarmtest.Eventually(t, 60*time.Second, "service recreated", func() bool {
			svc, ok := e.service(a.ID)
			return ok && svc.ID != before.ID
		})
		e.waitEvent(a.ID, "Created", a.ServiceName, 10*time.Second)
		e.waitReady(a.ID, 60*time.Second)
	})

	drift := e.manager.DriftCorrections()
	if app, scale := testutil.ToFloat64(drift.WithLabelValues("app")), testutil.ToFloat64(drift.WithLabelValues("scale")); app < 3 || scale < 1 {
		t.Fatalf("paas_drift_corrections_total = app %v scale %v, want at least 3 and 1", app, scale)
	}
	// Every hand edit above cut no release: drift repair is not a rollout.
	if d, err := e.store.GetLatestDeployment(e.ctx, a.ID); err != nil || d.Version != 1 {
		t.Fatalf("latest release = %d, %v; want still 1", d.Version, err)
	}
}

func hasEnv(svc swarm.Service, key string) bool {
	for _, kv := range svc.Spec.TaskTemplate.ContainerSpec.Env {
		if strings.HasPrefix(kv, key+"=") {
			return true
		}
	}
	return false
}

// TestResyncOfUnchangedAppWritesNothing lets several resyncs pass over a
// settled app and checks Swarm's version index did not move: no ServiceUpdate.
func TestResyncOfUnchangedAppWritesNothing(t *testing.T) {
	t.Parallel()
	e := setup(t)
	a := e.createApp("steady", "paas-testapp:v1", 1, map[string]string{"A": "1"})
	e.waitReady(a.ID, 90*time.Second)
	// Let the status settle (the last poll after Ready).
	swarmtest.Eventually(t, 10*time.Second, "status settled", func() bool { return e.app(a.ID).Phase == "Running" })
	before, _ := e.service(a.ID)
	status := e.app(a.ID)

	start := e.manager.Resyncs()
	swarmtest.Eventually(t, 30*time.Second, "three resyncs", func() bool { return e.manager.Resyncs() >= start+3 })

	after, _ := e.service(a.ID)
	if after.Version.Index != before.Version.Index {
		t.Fatalf("version index moved %d -> %d across resyncs of an unchanged app", before.Version.Index, after.Version.Index)
	}
	if got := e.app(a.ID); got.Version != status.Version {
		t.Fatalf("app row written across resyncs: version %d -> %d", status.Version, got.Version)
	}
}

// TestDeleteOrphansAndForeignServices deletes an app, plants an orphan of
// this installation and a look-alike of another: the first two go, the last
// stays.
func TestDeleteOrphansAndForeignServices(t *testing.T) {
	t.Parallel()
	e := setup(t)
	a := e.createApp("doomed", "paas-testapp:v1", 1, nil)
	e.waitReady(a.ID, 90*time.Second)

	orphanID := uuid.New()
	orphan := e.plantService("orphan-"+e.instance, e.instance, orphanID.String())
	foreignInstance := e.instance + "x"
	swarmtest.CleanupInstance(t, e.docker, foreignInstance)
	foreign := e.plantService("foreign-"+e.instance, foreignInstance, a.ID.String())

	if _, err := e.store.MarkAppDeleted(e.ctx, a.ID); err != nil {
		t.Fatal(err)
	}
	swarmtest.Eventually(t, 60*time.Second, "service and row gone", func() bool {
		_, svcExists := e.service(a.ID)
		_, err := e.store.GetApp(e.ctx, a.ID)
		return !svcExists && store.IsNotFound(err)
	})
	swarmtest.Eventually(t, 30*time.Second, "orphan removed", func() bool {
		_, _, err := e.docker.ServiceInspectWithRaw(e.ctx, orphan, types.ServiceInspectOptions{})
		return err != nil
	})
	// Several resyncs later the foreign look-alike, which even claims the
	// deleted app's id, is still there.
	start := e.manager.Resyncs()
	swarmtest.Eventually(t, 30*time.Second, "two resyncs", func() bool { return e.manager.Resyncs() >= start+2 })
	if _, _, err := e.docker.ServiceInspectWithRaw(e.ctx, foreign, types.ServiceInspectOptions{}); err != nil {
		t.Fatalf("service of another installation was touched: %v", err)
	}
	evs := e.events(a.ID)
	if len(evs) == 0 || !hasReason(evs, "Deleted") {
		t.Fatalf("no Deleted event: %+v", evs)
	}
	// Housekeeping prunes the deleted app's tombstone after
	// TombstoneRetention (3s here) and moves the watch horizon past it, and
	// sweeps login attempts and deployment requests out of their windows.
	for _, q := range []string{
		`INSERT INTO paas_login_attempts (key, attempted_at) VALUES ('\x01', now() - interval '2 minutes'), ('\x02', now())`,
		`INSERT INTO paas_deploy_requests (organization_id, requested_at) VALUES (gen_random_uuid(), now() - interval '2 hours'), (gen_random_uuid(), now())`,
	} {
		if _, err := e.store.Pool.Exec(e.ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	swarmtest.Eventually(t, 30*time.Second, "housekeeping", func() bool {
		var tombs, horizon, logins, deploys int64
		err := e.store.Pool.QueryRow(e.ctx, `SELECT (SELECT count(*) FROM paas_app_tombstones WHERE app_id = $1),
			(SELECT status_seq FROM paas_watch_horizon), (SELECT count(*) FROM paas_login_attempts),
			(SELECT count(*) FROM paas_deploy_requests)`, a.ID).Scan(&tombs, &horizon, &logins, &deploys)
		return err == nil && tombs == 0 && horizon > 0 && logins == 1 && deploys == 1
	})
}

func hasReason(evs []store.Event, reason string) bool {
	for _, ev := range evs {
		if ev.Reason == reason {
			return true
		}
	}
	return false
}

// plantService creates a service by hand with the platform's labels.
func (e *env) plantService(name, instance, appID string) string {
	e.t.Helper()
	replicas := uint64(0)
	resp, err := e.docker.ServiceCreate(context.Background(), swarm.ServiceSpec{
		Annotations: swarm.Annotations{Name: name, Labels: map[string]string{
			paasswarm.LabelManaged: "true", paasswarm.LabelInstance: instance, paasswarm.LabelAppID: appID,
		}},
		TaskTemplate: swarm.TaskSpec{ContainerSpec: &swarm.ContainerSpec{Image: e.imageID("paas-testapp:v1")}},
		Mode:         swarm.ServiceMode{Replicated: &swarm.ReplicatedService{Replicas: &replicas}},
	}, types.ServiceCreateOptions{})
	if err != nil {
		e.t.Fatal(err)
	}
	return resp.ID
}

// TestMassOrphansAreKept plants six services of this installation that no
// app row claims, as an empty or restored database would leave: the app
// loop removes none of them, says how many it held back, and removes them
// only when an operator allows it.
func TestMassOrphansAreKept(t *testing.T) {
	t.Parallel()
	for _, allow := range []bool{false, true} {
		t.Run(fmt.Sprintf("allow=%t", allow), func(t *testing.T) {
			t.Parallel()
			e := setup(t, func(m *controllers.Manager) { m.AllowMassOrphanRemoval = allow })
			var planted []string
			for i := range 6 {
				planted = append(planted, e.plantService(fmt.Sprintf("mass-%d-%s", i, e.instance), e.instance, uuid.NewString()))
			}
			exists := func(id string) bool {
				_, _, err := e.docker.ServiceInspectWithRaw(e.ctx, id, types.ServiceInspectOptions{})
				return err == nil
			}
			if allow {
				swarmtest.Eventually(t, 60*time.Second, "orphans removed", func() bool {
					return !slices.ContainsFunc(planted, exists)
				})
				return
			}
			swarmtest.Eventually(t, 30*time.Second, "six orphans held", func() bool {
				return testutil.ToFloat64(e.manager.OrphansHeld()) == 6
			})
			start := e.manager.Resyncs()
			swarmtest.Eventually(t, 30*time.Second, "two more resyncs", func() bool { return e.manager.Resyncs() >= start+2 })
			for _, id := range planted {
				if !exists(id) {
					t.Fatalf("orphan %s removed although six of six services had no app", id)
				}
			}
		})
	}
}

// TestHousekeepingRetention sets the retention settings low and checks that
// housekeeping prunes old events, audit rows, rollout logs and releases,
// and keeps the recent ones and the release an app runs; node alert
// webhooks delivered over 7 days ago go, pending or given-up ones stay.
func TestHousekeepingRetention(t *testing.T) {
	t.Parallel()
	e := setup(t)
	a := e.createApp("kept", "paas-testapp:v1", 0, map[string]string{"N": "1"})
	e.waitDeployment(a.ID, 1, "deployed", 60*time.Second)
	e.setEnv(a.ID, "N", "2")
	e.waitDeployment(a.ID, 2, "deployed", 60*time.Second)
	e.setEnv(a.ID, "N", "3")
	d3 := e.waitDeployment(a.ID, 3, "deployed", 60*time.Second)
	swarmtest.Eventually(t, 30*time.Second, "release 3 current", func() bool {
		return e.app(a.ID).CurrentDeploymentID.UUID == d3.ID
	})

	for _, q := range []string{
		`INSERT INTO paas_events (object_kind, object_id, type, reason, message, reporting_controller, first_timestamp, last_timestamp)
		 VALUES ('app', gen_random_uuid(), 'Normal', 'Old', 'old', 'test', now() - interval '10 days', now() - interval '10 days')`,
		`INSERT INTO paas_audit_log (action, target_kind, target_id, created_at) VALUES ('old', 'app', 'x', now() - interval '10 days'), ('new', 'app', 'x', now())`,
		`UPDATE paas_deployments SET finished_at = now() - interval '10 days' WHERE app_id = '` + a.ID.String() + `' AND version = 1`,
		`INSERT INTO paas_alert_deliveries (payload, created_at, next_attempt_at, delivered_at, attempts, last_error) VALUES
		 ('{"kind":"old"}', now() - interval '8 days', now() - interval '8 days', now() - interval '8 days', 1, ''),
		 ('{"kind":"recent"}', now() - interval '1 day', now() - interval '1 day', now() - interval '1 day', 1, ''),
		 ('{"kind":"given_up"}', now() - interval '10 days', now() - interval '9 days', NULL, 12, 'webhook answered 503')`,
		`INSERT INTO paas_settings (key, value) VALUES ('retention_events_days', '5'), ('retention_audit_days', '5'),
		 ('retention_release_logs_days', '5'), ('retention_releases_per_app', '2')`,
	} {
		if _, err := e.store.Pool.Exec(e.ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	swarmtest.Eventually(t, 30*time.Second, "retention applied", func() bool {
		var oldEvents, audit, releases, current int64
		err := e.store.Pool.QueryRow(e.ctx, `SELECT
			(SELECT count(*) FROM paas_events WHERE reason = 'Old'),
			(SELECT count(*) FROM paas_audit_log),
			(SELECT count(*) FROM paas_deployments WHERE app_id = $1),
			(SELECT count(*) FROM paas_deployments d JOIN paas_apps a ON a.current_deployment_id = d.id WHERE a.id = $1)`,
			a.ID).Scan(&oldEvents, &audit, &releases, &current)
		return err == nil && oldEvents == 0 && audit == 1 && releases == 2 && current == 1
	})
	// Delivered alert webhooks are kept 7 days; undelivered ones always.
	swarmtest.Eventually(t, 30*time.Second, "old delivered webhooks pruned", func() bool {
		rows, err := e.store.Pool.Query(e.ctx, `SELECT payload->>'kind' FROM paas_alert_deliveries ORDER BY 1`)
		if err != nil {
			t.Fatal(err)
		}
		kinds, err := pgx.CollectRows(rows, pgx.RowTo[string])
		return err == nil && strings.Join(kinds, ",") == "given_up,recent"
	})
	// The app's own recent events are kept.
	if !hasReason(e.events(a.ID), "ReleaseCreated") {
		t.Fatal("recent events pruned")
	}
	if v, err := e.store.GetLatestDeployment(e.ctx, a.ID); err != nil || v.Version != 3 {
		t.Fatalf("latest release %d, %v; want 3 kept", v.Version, err)
	}
}
