package controllers_test

import (
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/swarm"
	"github.com/google/uuid"
	"github.com/sqlc-dev/pqtype"

	"github.com/skypanel/paas/controllers"
	"github.com/skypanel/paas/controllers/servicespec"
	"github.com/skypanel/paas/controllers/swarm/swarmtest"
	"github.com/skypanel/paas/store"
)

func (e *env) waitCondition(id uuid.UUID, typ, reason string, timeout time.Duration) servicespec.Condition {
	e.t.Helper()
	var c servicespec.Condition
	swarmtest.Eventually(e.t, timeout, typ+" "+reason, func() bool {
		c = e.condition(e.app(id), typ)
		return c.Status == servicespec.StatusTrue && c.Reason == reason
	})
	return c
}

// TestAppHealthUnhealthy: an app whose health check fails is Degraded,
// reason Unhealthy, with the check's own output.
func TestAppHealthUnhealthy(t *testing.T) {
	e := setup(t)
	a, err := e.store.CreateApp(e.ctx, store.CreateAppParams{
		OrganizationID: e.org.ID, Name: "sick", ServiceName: store.ServiceNameFor(e.instance, "sick"),
		Image: "paas-testapp:v1", Replicas: 1, Port: 8080, Command: []string{}, PlanID: e.plan.ID,
		HealthCheck: pqtype.NullRawMessage{Valid: true, RawMessage: []byte(
			`{"command":["/testapp","-healthcheck","http://127.0.0.1:8080/health"],"interval_seconds":1,"timeout_seconds":3,"retries":1}`)},
	})
	if err != nil {
		t.Fatal(err)
	}
	e.setEnv(a.ID, "TESTAPP_UNHEALTHY", "1")
	c := e.waitCondition(a.ID, servicespec.ConditionDegraded, "Unhealthy", 90*time.Second)
	if !strings.Contains(c.Message, "last health check output: healthcheck: http://127.0.0.1:8080/health: status 503") {
		t.Fatalf("Degraded message lacks the health output: %q", c.Message)
	}
	if got := e.app(a.ID); got.UpdatedReplicas != 0 || got.StatusMessage == "" {
		t.Fatalf("updated replicas %d, status message %q", got.UpdatedReplicas, got.StatusMessage)
	}
}

// TestAppHealthCrashLoop: a release whose tasks keep exiting is Degraded
// and Progressing with reason CrashLoop and the exit code, not
// ScalingReplicas.
func TestAppHealthCrashLoop(t *testing.T) {
	e := setup(t)
	a := e.createApp("crashy", "paas-testapp:crash", 1, nil)
	c := e.waitCondition(a.ID, servicespec.ConditionDegraded, "CrashLoop", 90*time.Second)
	if !strings.Contains(c.Message, "exit code 1") {
		t.Fatalf("Degraded message lacks the exit code: %q", c.Message)
	}
	p := e.waitCondition(a.ID, servicespec.ConditionProgressing, "CrashLoop", 10*time.Second)
	if !strings.Contains(p.Message, "0/1 replicas running") || !strings.Contains(p.Message, "exit code 1") {
		t.Fatalf("Progressing message: %q", p.Message)
	}
}

// TestAppHealthUnschedulable: a release asking for more CPU than any node
// has free is reported at once (within a poll interval of Swarm saying so)
// as Unschedulable in Swarm's words, while the old release keeps serving;
// the rollout that fails for it says so.
func TestAppHealthUnschedulable(t *testing.T) {
	e := setup(t, func(m *controllers.Manager) { m.RolloutDeadline = 10 * time.Second })
	a := e.createApp("greedy", "paas-testapp:v1", 1, nil)
	ready := e.waitReady(a.ID, 120*time.Second)
	if ready.UpdatedReplicas != 1 {
		t.Fatalf("updated replicas %d, want 1", ready.UpdatedReplicas)
	}
	var huge store.Plan
	if err := e.store.Pool.QueryRow(e.ctx, `INSERT INTO paas_plans (name, display_name, cpu_millis, memory_mb, max_replicas, price_hourly_micros)
		VALUES ('huge', 'Huge', 512000, 128, 3, 1000) RETURNING id`).Scan(&huge.ID); err != nil {
		t.Fatal(err)
	}
	e.patch(a.ID, func(p *store.UpdateAppSpecParams) { p.PlanID = huge.ID })

	svc, _ := e.service(a.ID)
	var swarmSaid time.Time
	var swarmErr string
	swarmtest.Eventually(t, 60*time.Second, "Swarm cannot place the task", func() bool {
		tasks, err := e.docker.TaskList(e.ctx, types.TaskListOptions{Filters: filters.NewArgs(filters.Arg("service", svc.ID))})
		if err != nil {
			t.Fatal(err)
		}
		for _, tk := range tasks {
			if tk.Status.State == swarm.TaskStatePending && strings.Contains(tk.Status.Err, "no suitable node") {
				swarmSaid, swarmErr = time.Now(), tk.Status.Err
				return true
			}
		}
		return false
	})
	c := e.waitCondition(a.ID, servicespec.ConditionDegraded, "Unschedulable", 10*time.Second)
	took := time.Since(swarmSaid)
	t.Logf("Unschedulable reported %s after Swarm said %q (poll interval %s)", took, swarmErr, e.manager.PollInterval)
	// One poll interval, plus the reconcile's own list and write and this
	// test's 100 ms polling.
	if took > e.manager.PollInterval+500*time.Millisecond {
		t.Fatalf("Unschedulable reported %s after Swarm said so, poll interval %s", took, e.manager.PollInterval)
	}
	if !strings.Contains(c.Message, swarmErr) {
		t.Fatalf("message %q lacks Swarm's words %q", c.Message, swarmErr)
	}
	if r := e.condition(e.app(a.ID), servicespec.ConditionReady); r.Status != servicespec.StatusTrue {
		t.Fatalf("the old release serves, yet Ready is %+v", r)
	}
	d := e.waitDeployment(a.ID, 2, "failed", 60*time.Second)
	if !strings.Contains(d.Message, "no suitable node") {
		t.Fatalf("failed rollout message lacks the cause: %q", d.Message)
	}
}
