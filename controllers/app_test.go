package controllers_test

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/skypanel/paas/controllers/swarm/swarmtest"
	"github.com/skypanel/paas/store"
)

func TestAppConvergesToRunningService(t *testing.T) {
	t.Parallel()
	e := setup(t)
	a := e.createApp("web", "paas-testapp:v1", 2, map[string]string{"GREETING": "hello"})

	got := e.waitReady(a.ID, 90*time.Second)
	if got.Phase != "Running" || got.RunningReplicas != 2 || got.DesiredReplicas != 2 {
		t.Fatalf("status = phase %s running %d desired %d", got.Phase, got.RunningReplicas, got.DesiredReplicas)
	}
	svc, ok := e.service(a.ID)
	if !ok {
		t.Fatal("no service")
	}
	cs := svc.Spec.TaskTemplate.ContainerSpec
	if cs.Image != e.imageID("paas-testapp:v1") {
		t.Fatalf("service image %q, want the pinned image id", cs.Image)
	}
	if *svc.Spec.Mode.Replicated.Replicas != 2 || svc.ServiceStatus.RunningTasks != 2 {
		t.Fatalf("replicas %d running %d", *svc.Spec.Mode.Replicated.Replicas, svc.ServiceStatus.RunningTasks)
	}
	if svc.Spec.Name != a.ServiceName || svc.Spec.Labels["paas.instance"] != e.instance {
		t.Fatalf("service %s labels %v", svc.Spec.Name, svc.Spec.Labels)
	}
	if lim := svc.Spec.TaskTemplate.Resources.Limits; lim.NanoCPUs != 1e8 || lim.MemoryBytes != 128<<20 {
		t.Fatalf("limits %+v, want the test plan's 0.1 CPU / 128 MB", lim)
	}
	foundEnv := false
	for _, kv := range cs.Env {
		foundEnv = foundEnv || kv == "GREETING=hello"
	}
	if !foundEnv {
		t.Fatalf("env %v lacks GREETING", cs.Env)
	}
	// Every task is sandboxed: a PIDs limit, capabilities dropped, logs bounded.
	if lim := svc.Spec.TaskTemplate.Resources.Limits; lim.Pids != 512 {
		t.Errorf("pids limit %d, want 512", lim.Pids)
	}
	if ld := svc.Spec.TaskTemplate.LogDriver; ld == nil || ld.Name != "json-file" || ld.Options["max-size"] != "10m" || ld.Options["max-file"] != "3" {
		t.Errorf("log driver %+v, want json-file 10m x 3", ld)
	}
	containers, err := e.docker.ContainerList(e.ctx, container.ListOptions{
		Filters: filters.NewArgs(filters.Arg("label", "com.docker.swarm.service.id="+svc.ID))})
	if err != nil || len(containers) == 0 {
		t.Fatalf("task containers: %v, %v", containers, err)
	}
	ctr, err := e.docker.ContainerInspect(e.ctx, containers[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	if hc := ctr.HostConfig; hc.PidsLimit == nil || *hc.PidsLimit != 512 || !slices.Contains(hc.CapDrop, "CAP_NET_RAW") || !slices.Contains(hc.CapDrop, "CAP_MKNOD") {
		t.Errorf("task container pids limit %v, cap drop %v; want 512 and CAP_NET_RAW, CAP_MKNOD dropped", hc.PidsLimit, hc.CapDrop)
	}
	// The engine runs every task with no_new_privs (hack/docker-up.sh starts
	// dockerd with --no-new-privileges; the Swarm API has no per-service
	// field before 1.46): the kernel says so for the task's process.
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", ctr.State.Pid))
	if err != nil {
		t.Fatalf("read the task process's status: %v", err)
	}
	if !strings.Contains(string(status), "NoNewPrivs:\t1") {
		t.Errorf("task process runs without no_new_privs:\n%s", status)
	}
	d := e.deployment(a.ID, 1)
	if d.ImageResolved != cs.Image || got.CurrentDeploymentID.UUID != d.ID {
		t.Fatalf("release 1 = %+v, current %v", d, got.CurrentDeploymentID)
	}
	e.waitEvent(a.ID, "Created", a.ServiceName, 10*time.Second)

	// An admin's change to the plan reaches the running service.
	if _, err := e.store.Pool.Exec(e.ctx, "UPDATE paas_plans SET memory_mb = 192 WHERE id = $1", e.plan.ID); err != nil {
		t.Fatal(err)
	}
	swarmtest.Eventually(t, 60*time.Second, "new plan memory applied", func() bool {
		svc, ok := e.service(a.ID)
		return ok && svc.Spec.TaskTemplate.Resources.Limits.MemoryBytes == 192<<20
	})

	// The loops' metrics are exported.
	families, err := e.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, f := range families {
		seen[f.GetName()] = true
	}
	for _, name := range []string{"paas_reconcile_total", "paas_reconcile_duration_seconds", "paas_workqueue_depth", "paas_rollouts_total", "paas_leader", "paas_resyncs_total"} {
		if !seen[name] {
			t.Errorf("metric %s not exported", name)
		}
	}
	if n := testutil.ToFloat64(e.manager.Rollouts().WithLabelValues("deployed")); n < 1 {
		t.Errorf("paas_rollouts_total{outcome=deployed} = %v, want 1", n)
	}
}

func TestReleasesRolloutFailureAndRollback(t *testing.T) {
	t.Parallel()
	e := setup(t)
	a := e.createApp("shop", "paas-testapp:v1", 2, nil)
	e.waitReady(a.ID, 90*time.Second)

	// v2 rolls out start-first and deploys.
	e.patch(a.ID, func(p *store.UpdateAppSpecParams) { p.Image = "paas-testapp:v2" })
	e.waitDeployment(a.ID, 2, "deployed", 90*time.Second)
	e.waitReady(a.ID, 30*time.Second)
	svc, _ := e.service(a.ID)
	if svc.Spec.UpdateConfig.Order != "start-first" || svc.Spec.UpdateConfig.FailureAction != "rollback" {
		t.Fatalf("update config %+v", svc.Spec.UpdateConfig)
	}
	v2 := e.imageID("paas-testapp:v2")
	if svc.Spec.TaskTemplate.ContainerSpec.Image != v2 {
		t.Fatalf("image %q after v2 rollout", svc.Spec.TaskTemplate.ContainerSpec.Image)
	}
	if d1 := e.deployment(a.ID, 1); d1.Status != "deployed" {
		t.Fatalf("release 1 status %s", d1.Status)
	}

	// A crashing image fails its release with the task's error; v2 keeps serving.
	e.patch(a.ID, func(p *store.UpdateAppSpecParams) { p.Image = "paas-testapp:crash" })
	failed := e.waitDeployment(a.ID, 3, "failed", 120*time.Second)
	if failed.Message == "" || !containsAny(failed.Message, "exit", "code 1", "non-zero") {
		t.Fatalf("failed release message %q lacks the task error", failed.Message)
	}
	var degraded store.App
	swarmtest.Eventually(t, 60*time.Second, "app degraded yet serving v2", func() bool {
		degraded = e.app(a.ID)
		svc, ok := e.service(a.ID)
		return ok && e.condition(degraded, "Degraded").Status == "True" &&
			svc.Spec.TaskTemplate.ContainerSpec.Image == v2 && svc.ServiceStatus.RunningTasks == 2 &&
			e.condition(degraded, "Ready").Status == "True"
	})
	if c := e.condition(degraded, "Degraded"); c.Reason != "RolloutFailed" {
		t.Fatalf("Degraded = %+v", c)
	}
	e.waitEvent(a.ID, "RolloutFailed", "release 3", 10*time.Second)

	// Going back to v1 (what the API's rollback to release 1 writes here,
	// env being unchanged) cuts release 4, recognised as a rollback of 1.
	e.patch(a.ID, func(p *store.UpdateAppSpecParams) { p.Image = "paas-testapp:v1" })
	d4 := e.waitDeployment(a.ID, 4, "deployed", 90*time.Second)
	if d4.RollbackOf == nil || *d4.RollbackOf != 1 {
		t.Fatalf("release 4 rollback_of = %v, want 1", d4.RollbackOf)
	}
	got := e.waitReady(a.ID, 60*time.Second)
	if e.condition(got, "Degraded").Status != "False" {
		t.Fatalf("still degraded after rollback: %+v", e.condition(got, "Degraded"))
	}
	svc, _ = e.service(a.ID)
	if svc.Spec.TaskTemplate.ContainerSpec.Image != e.imageID("paas-testapp:v1") {
		t.Fatalf("image after rollback %q", svc.Spec.TaskTemplate.ContainerSpec.Image)
	}
}

func containsAny(s string, subs ...string) bool {
	for _, sub := range subs {
		if len(sub) > 0 && len(s) >= len(sub) {
			for i := 0; i+len(sub) <= len(s); i++ {
				if s[i:i+len(sub)] == sub {
					return true
				}
			}
		}
	}
	return false
}

// TestRollbackRunsThePinnedImage tags an image T as v1, deploys it, moves T
// to v2 and cuts release 2, then rolls back to release 1: the service must
// run v1's image id, not whatever T points at now.
func TestRollbackRunsThePinnedImage(t *testing.T) {
	t.Parallel()
	e := setup(t)
	tag := "paas-testapp:pin-" + strings.ToLower(e.instance)
	v1, v2 := e.imageID("paas-testapp:v1"), e.imageID("paas-testapp:v2")
	retag := func(src string) {
		t.Helper()
		if err := e.docker.ImageTag(e.ctx, src, tag); err != nil {
			t.Fatal(err)
		}
	}
	retag("paas-testapp:v1")
	t.Cleanup(func() {
		_, _ = e.docker.ImageRemove(context.Background(), tag, image.RemoveOptions{})
	})

	a := e.createApp("pinned", tag, 1, map[string]string{"STAGE": "one"})
	e.waitReady(a.ID, 90*time.Second)
	if d := e.deployment(a.ID, 1); d.ImageResolved != v1 {
		t.Fatalf("release 1 pinned %s, want v1 %s", d.ImageResolved, v1)
	}

	// T moves to v2; the next release resolves it afresh.
	retag("paas-testapp:v2")
	e.setEnv(a.ID, "STAGE", "two")
	d2 := e.waitDeployment(a.ID, 2, "deployed", 90*time.Second)
	if d2.ImageResolved != v2 {
		t.Fatalf("release 2 pinned %s, want v2 %s (the tag moved)", d2.ImageResolved, v2)
	}
	if svc, _ := e.service(a.ID); svc.Spec.TaskTemplate.ContainerSpec.Image != v2 {
		t.Fatalf("release 2 runs %s, want v2", svc.Spec.TaskTemplate.ContainerSpec.Image)
	}

	// Rolling back to release 1 (the API writes its spec back) runs v1's
	// pinned image although T now names v2.
	e.setEnv(a.ID, "STAGE", "one")
	d3 := e.waitDeployment(a.ID, 3, "deployed", 90*time.Second)
	if d3.RollbackOf == nil || *d3.RollbackOf != 1 || d3.ImageResolved != v1 {
		t.Fatalf("release 3: rollback_of %v image %s; want a rollback of 1 running v1 %s", d3.RollbackOf, d3.ImageResolved, v1)
	}
	e.waitReady(a.ID, 60*time.Second)
	if svc, _ := e.service(a.ID); svc.Spec.TaskTemplate.ContainerSpec.Image != v1 {
		t.Fatalf("after the rollback the service runs %s, want v1 %s", svc.Spec.TaskTemplate.ContainerSpec.Image, v1)
	}
	e.waitEvent(a.ID, "ReleaseCreated", "as release 1 ran it", 10*time.Second)
}
