package controllers_test

import (
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types"

	"github.com/skypanel/paas/controllers"
	"github.com/skypanel/paas/controllers/observed"
	"github.com/skypanel/paas/controllers/servicespec"
	"github.com/skypanel/paas/controllers/swarm/swarmtest"
	"github.com/skypanel/paas/store"
)

// TestStopStartRestartAndSuspend drives the scale loop through the desired
// states that set the replica count: stop, start, restart (a counter that
// becomes ForceUpdate) and organization suspension.
func TestStopStartRestartAndSuspend(t *testing.T) {
	t.Parallel()
	e := setup(t)
	a := e.createApp("toggle", "paas-testapp:v1", 2, nil)
	e.waitReady(a.ID, 90*time.Second)

	replicasAndPhase := func(replicas uint64, phase string) func() bool {
		return func() bool {
			svc, ok := e.service(a.ID)
			got := e.app(a.ID)
			return ok && *svc.Spec.Mode.Replicated.Replicas == replicas && svc.ServiceStatus.RunningTasks == replicas && got.Phase == phase
		}
	}

	e.patch(a.ID, func(p *store.UpdateAppSpecParams) { p.Stopped = true })
	swarmtest.Eventually(t, 60*time.Second, "stopped: zero replicas", replicasAndPhase(0, "Stopped"))

	e.patch(a.ID, func(p *store.UpdateAppSpecParams) { p.Stopped = false })
	swarmtest.Eventually(t, 60*time.Second, "started: two replicas", replicasAndPhase(2, "Running"))

	svc, _ := e.service(a.ID)
	tasksBefore := runningTaskIDs(t, e, svc.ID)
	if _, err := e.store.BumpAppRestart(e.ctx, a.ID); err != nil {
		t.Fatal(err)
	}
	swarmtest.Eventually(t, 90*time.Second, "restarted: every task replaced", func() bool {
		svc, ok := e.service(a.ID)
		if !ok || svc.Spec.TaskTemplate.ForceUpdate != 1 {
			return false
		}
		now := runningTaskIDs(t, e, svc.ID)
		if len(now) != 2 {
			return false
		}
		for id := range now {
			if tasksBefore[id] {
				return false
			}
		}
		return true
	})
	e.waitEvent(a.ID, "Restarted", "restart #1", 10*time.Second)
	if d, _ := e.store.GetLatestDeployment(e.ctx, a.ID); d.Version != 1 {
		t.Fatalf("a restart cut release %d", d.Version)
	}

	if _, err := e.store.SetOrganizationSuspended(e.ctx, store.SetOrganizationSuspendedParams{ID: e.org.ID, Suspended: true}); err != nil {
		t.Fatal(err)
	}
	swarmtest.Eventually(t, 60*time.Second, "suspended: zero replicas", replicasAndPhase(0, "Suspended"))
	if c := e.condition(e.app(a.ID), "Suspended"); c.Status != "True" || c.Reason != "AdminAction" {
		t.Fatalf("Suspended = %+v", c)
	}
	if _, err := e.store.SetOrganizationSuspended(e.ctx, store.SetOrganizationSuspendedParams{ID: e.org.ID, Suspended: false}); err != nil {
		t.Fatal(err)
	}
	swarmtest.Eventually(t, 60*time.Second, "restored: two replicas", replicasAndPhase(2, "Running"))
}

func runningTaskIDs(t *testing.T, e *env, serviceID string) map[string]bool {
	t.Helper()
	tasks, err := e.docker.TaskList(e.ctx, types.TaskListOptions{Filters: observed.ServiceFilter(serviceID)})
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{}
	for _, task := range tasks {
		if task.Status.State == "running" && task.DesiredState == "running" {
			ids[task.ID] = true
		}
	}
	return ids
}

// TestSuspensionReasonReachesTheCondition: with resyncs out of the picture
// (an hour apart), a change of the administrator's reason alone, the flag
// unchanged, reaches the app's Suspended message: the organization's
// trigger announces it.
func TestSuspensionReasonReachesTheCondition(t *testing.T) {
	t.Parallel()
	e := setup(t, func(m *controllers.Manager) { m.ResyncInterval = time.Hour })
	a := e.createApp("held", "paas-testapp:v1", 1, nil)
	suspended := func(reason string) func() bool {
		return func() bool {
			c := e.condition(e.app(a.ID), servicespec.ConditionSuspended)
			return c.Status == servicespec.StatusTrue && c.Reason == "AdminAction" && strings.Contains(c.Message, "(reason: "+reason+")")
		}
	}
	for _, reason := range []string{"unpaid invoice", "abuse report 42"} {
		if _, err := e.store.SetAdminSuspended(e.ctx, store.SetAdminSuspendedParams{ID: e.org.ID, Suspended: true, Reason: reason}); err != nil {
			t.Fatal(err)
		}
		swarmtest.Eventually(t, 30*time.Second, "Suspended names "+reason, suspended(reason))
	}
}
