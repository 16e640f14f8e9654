package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types"
	"github.com/docker/docker/api/types/swarm"
	"github.com/google/uuid"

	paasswarm "github.com/skypanel/paas/controllers/swarm"
	"github.com/skypanel/paas/controllers/swarm/swarmtest"
	"github.com/skypanel/paas/store"
)

// plant creates a service of the cluster's installation the way paasd
// would have, as if an earlier database had known its app.
func (c *cluster) plant(t *testing.T) string {
	t.Helper()
	replicas := uint64(0)
	resp, err := c.docker.ServiceCreate(c.ctx, swarm.ServiceSpec{
		Annotations: swarm.Annotations{Name: c.instance + "-planted", Labels: map[string]string{
			paasswarm.LabelManaged: "true", paasswarm.LabelInstance: c.instance, paasswarm.LabelAppID: uuid.NewString(),
		}},
		Mode:         swarm.ServiceMode{Replicated: &swarm.ReplicatedService{Replicas: &replicas}},
		TaskTemplate: swarm.TaskSpec{ContainerSpec: &swarm.ContainerSpec{Image: "paas-testapp:v1"}},
	}, types.ServiceCreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return resp.ID
}

// refuses runs `paasd serve` and expects it to exit at once with an error
// containing want.
func (c *cluster) refuses(t *testing.T, want string, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := c.command(swarmtest.FreePort(t), append([]string{"serve"}, args...)...)
	done := make(chan error, 1)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(out.String(), want) {
			t.Fatalf("paasd serve exited with %v, output:\n%s\nwant a failure saying %q", err, out.String(), want)
		}
	case <-ctx.Done():
		_ = cmd.Process.Kill()
		t.Fatalf("paasd serve kept running; want it to refuse to start (%q). Output:\n%s", want, out.String())
	}
}

func (c *cluster) serviceExists(t *testing.T, id string) bool {
	t.Helper()
	_, _, err := c.docker.ServiceInspectWithRaw(c.ctx, id, types.ServiceInspectOptions{})
	return err == nil
}

// TestEmptyDatabaseWithExistingInstanceRefusesToStart: a database without
// an installation id (empty, or restored from before the first start)
// facing services of PAAS_INSTANCE_ID must not start, and removes nothing.
func TestEmptyDatabaseWithExistingInstanceRefusesToStart(t *testing.T) {
	t.Parallel()
	c := newCluster(t, "")
	planted := c.plant(t)
	c.refuses(t, "Swarm runs 1 services of installation")
	if !c.serviceExists(t, planted) {
		t.Fatal("the planted service was removed")
	}
	if _, err := c.store.GetSetting(c.ctx, installationKey); !store.IsNotFound(err) {
		t.Fatalf("installation id recorded although paasd refused: %v", err)
	}

	// An operator who means it adopts the services.
	p := c.start("adopting", "--adopt-instance")
	if got, err := c.store.GetSetting(c.ctx, installationKey); err != nil || *got.Value != c.instance {
		t.Fatalf("installation id after adopting = %v, %v", got.Value, err)
	}
	p.kill(9)
}

// TestInstanceMismatchRefusesToStart: PAAS_INSTANCE_ID must match the id the
// database recorded.
func TestInstanceMismatchRefusesToStart(t *testing.T) {
	t.Parallel()
	c := newCluster(t, "")
	other := "other-" + c.instance
	if _, err := c.store.InsertSettingIfAbsent(c.ctx, store.InsertSettingIfAbsentParams{Key: installationKey, Value: &other}); err != nil {
		t.Fatal(err)
	}
	planted := c.plant(t)
	c.refuses(t, "this database belongs to installation")
	if !c.serviceExists(t, planted) {
		t.Fatal("the planted service was removed")
	}
}
