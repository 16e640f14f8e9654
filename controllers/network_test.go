package controllers_test

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/swarm"
	"github.com/google/uuid"

	netloop "github.com/skypanel/paas/controllers/network"
	paasswarm "github.com/skypanel/paas/controllers/swarm"
	"github.com/skypanel/paas/controllers/swarm/swarmtest"
	"github.com/skypanel/paas/deploy/infra"
	"github.com/skypanel/paas/store"
)

// TestTenantsCannotReachEachOther runs two apps of one organization and
// one of another: from inside a task of the first, its sibling answers by
// service name and the other tenant's app cannot be reached at all.
func TestTenantsCannotReachEachOther(t *testing.T) {
	t.Parallel()
	e := setup(t)
	web := e.createApp("web", "paas-testapp:v1", 1, nil)
	api := e.createApp("api", "paas-testapp:v1", 1, nil)
	other, err := e.store.CreateOrganization(e.ctx, store.CreateOrganizationParams{Name: "Rival", Slug: "rival"})
	if err != nil {
		t.Fatal(err)
	}
	rival, err := e.store.CreateApp(e.ctx, store.CreateAppParams{
		OrganizationID: other.ID, Name: "rival", ServiceName: store.ServiceNameFor(e.instance, "rival"),
		Image: "paas-testapp:v1", Replicas: 1, Port: 8080, Command: []string{}, PlanID: e.plan.ID,
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range []store.App{web, api, rival} {
		e.waitReady(a.ID, 90*time.Second)
	}

	// Each organization has its own network, recorded as its status.
	var acmeNet, rivalNet string
	if err := e.store.Pool.QueryRow(e.ctx, "SELECT (SELECT network_id FROM paas_organizations WHERE id = $1), (SELECT network_id FROM paas_organizations WHERE id = $2)",
		e.org.ID, other.ID).Scan(&acmeNet, &rivalNet); err != nil {
		t.Fatal(err)
	}
	if acmeNet == "" || rivalNet == "" || acmeNet == rivalNet {
		t.Fatalf("organization networks %q and %q, want two distinct ones", acmeNet, rivalNet)
	}
	svc, _ := e.service(web.ID)
	if nets := svc.Spec.TaskTemplate.Networks; len(nets) != 1 || nets[0].Target != acmeNet {
		t.Fatalf("web's networks %+v, want only its organization's %s", nets, acmeNet)
	}

	from := e.taskContainer(web.ID)
	// tasks.<service> resolves to the tasks' addresses: the service's
	// virtual IP needs IPVS, which this machine's kernel lacks.
	get := func(target store.App) error {
		url := fmt.Sprintf("http://tasks.%s:8080/health", target.ServiceName)
		out, err := exec.Command("docker", "exec", from, "/testapp", "-healthcheck", url).CombinedOutput()
		if err != nil {
			return fmt.Errorf("%v: %s", err, strings.TrimSpace(string(out)))
		}
		return nil
	}
	// The sibling answers (a fresh task's DNS entry can lag a moment).
	swarmtest.Eventually(t, 30*time.Second, "web reaches api on their network", func() bool { return get(api) == nil })
	if err := get(rival); err == nil {
		t.Fatalf("web reached %s of another organization", rival.ServiceName)
	}
	// Not by name, nor by the rival task's address.
	rivalIP := e.taskAddress(rival.ID, rivalNet)
	out, err := exec.Command("docker", "exec", from, "/testapp", "-healthcheck", "http://"+rivalIP+":8080/health").CombinedOutput()
	if err == nil {
		t.Fatalf("web reached the rival task at %s: %s", rivalIP, out)
	}

	// An organization gone takes its network with it, once its apps are gone.
	if _, err := e.store.MarkAppDeleted(e.ctx, rival.ID); err != nil {
		t.Fatal(err)
	}
	swarmtest.Eventually(t, 60*time.Second, "rival app gone", func() bool {
		_, err := e.store.GetApp(e.ctx, rival.ID)
		return store.IsNotFound(err)
	})
	if _, err := e.store.Pool.Exec(e.ctx, "DELETE FROM paas_organizations WHERE id = $1", other.ID); err != nil {
		t.Fatal(err)
	}
	swarmtest.Eventually(t, 60*time.Second, "rival network removed", func() bool {
		nets, err := e.docker.NetworkList(e.ctx, network.ListOptions{Filters: filters.NewArgs(filters.Arg("name", netloop.NetworkName(e.instance, other.ID)))})
		return err == nil && len(nets) == 0
	})
}

// taskContainer returns the id of a running local container of the app.
func (e *env) taskContainer(app uuid.UUID) string {
	e.t.Helper()
	svc, ok := e.service(app)
	if !ok {
		e.t.Fatal("no service")
	}
	list, err := e.docker.ContainerList(e.ctx, container.ListOptions{
		Filters: filters.NewArgs(filters.Arg("label", "com.docker.swarm.service.id="+svc.ID), filters.Arg("status", "running"))})
	if err != nil || len(list) == 0 {
		e.t.Fatalf("running containers of %s: %v %v", svc.Spec.Name, list, err)
	}
	return list[0].ID
}

// taskAddress returns the address of the app's container on network netID.
func (e *env) taskAddress(app uuid.UUID, netID string) string {
	e.t.Helper()
	ctr, err := e.docker.ContainerInspect(context.Background(), e.taskContainer(app))
	if err != nil {
		e.t.Fatal(err)
	}
	for _, n := range ctr.NetworkSettings.Networks {
		if n.NetworkID == netID {
			return n.IPAddress
		}
	}
	e.t.Fatalf("container of app %s has no address on %s", app, netID)
	return ""
}

// TestTraefikJoinsOrganizationNetworks: the installation's Traefik (here a
// stand-in with its labels, as paasd init makes it) joins every
// organization's network, one that exists before it (at the next resync)
// and one created after it, and leaves a network before it is removed.
func TestTraefikJoinsOrganizationNetworks(t *testing.T) {
	t.Parallel()
	e := setup(t)
	zero := uint64(0)
	resp, err := e.docker.ServiceCreate(e.ctx, swarm.ServiceSpec{
		Annotations: swarm.Annotations{Name: e.instance + "-traefik", Labels: map[string]string{
			infra.LabelRole: infra.RoleTraefik, paasswarm.LabelInstance: e.instance,
		}},
		Mode:         swarm.ServiceMode{Replicated: &swarm.ReplicatedService{Replicas: &zero}},
		TaskTemplate: swarm.TaskSpec{ContainerSpec: &swarm.ContainerSpec{Image: "paas-testapp:v1"}},
	}, swarm.ServiceCreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.docker.ServiceRemove(context.Background(), resp.ID) })
	attached := func(netID string) bool {
		svc, _, err := e.docker.ServiceInspectWithRaw(e.ctx, resp.ID, swarm.ServiceInspectOptions{})
		return err == nil && netloop.Attached(svc.Spec, netID)
	}
	orgNetwork := func(org uuid.UUID) string {
		var id *string
		swarmtest.Eventually(t, 30*time.Second, "organization network recorded", func() bool {
			err := e.store.Pool.QueryRow(e.ctx, "SELECT network_id FROM paas_organizations WHERE id = $1", org).Scan(&id)
			return err == nil && id != nil && *id != ""
		})
		return *id
	}

	acme := orgNetwork(e.org.ID)
	swarmtest.Eventually(t, 30*time.Second, "traefik joins the network made before it", func() bool { return attached(acme) })

	other, err := e.store.CreateOrganization(e.ctx, store.CreateOrganizationParams{Name: "Rival", Slug: "rival"})
	if err != nil {
		t.Fatal(err)
	}
	rival := orgNetwork(other.ID)
	swarmtest.Eventually(t, 30*time.Second, "traefik joins a new organization's network", func() bool { return attached(rival) })

	if _, err := e.store.Pool.Exec(e.ctx, "DELETE FROM paas_organizations WHERE id = $1", other.ID); err != nil {
		t.Fatal(err)
	}
	swarmtest.Eventually(t, 60*time.Second, "rival network removed, traefik detached first", func() bool {
		nets, err := e.docker.NetworkList(e.ctx, network.ListOptions{Filters: filters.NewArgs(filters.Arg("name", netloop.NetworkName(e.instance, other.ID)))})
		return err == nil && len(nets) == 0 && !attached(rival)
	})
	if !attached(acme) {
		t.Fatal("traefik left the remaining organization's network")
	}
}
