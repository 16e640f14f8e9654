package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/swarm"
	"github.com/docker/docker/errdefs"
	"gopkg.in/yaml.v3"

	netloop "github.com/skypanel/paas/controllers/network"
	paasswarm "github.com/skypanel/paas/controllers/swarm"
	"github.com/skypanel/paas/controllers/swarm/swarmtest"
	"github.com/skypanel/paas/deploy/infra"
	"github.com/skypanel/paas/deploy/stack"
	"github.com/skypanel/paas/store"
)

// initRun is one test's paasd init: a stack and networks of unique names,
// removed when the test ends.
type initRun struct {
	c                        *cluster
	stack, public, infraNet  string
	outDir                   string
	httpPort, httpsPort, org string
	registryPort             string
}

func newInitRun(t *testing.T) *initRun {
	c := newCluster(t, "")
	r := &initRun{
		c: c, stack: "pit-" + c.instance, public: "pit-pub-" + c.instance, infraNet: "pit-inf-" + c.instance,
		outDir: t.TempDir(), httpPort: strconv.Itoa(swarmtest.FreePort(t)), httpsPort: strconv.Itoa(swarmtest.FreePort(t)),
		registryPort: strconv.Itoa(swarmtest.FreePort(t)),
	}
	// Registered after newCluster's cleanups, so it runs before them: the
	// stack lets go of the organization network before that is removed.
	t.Cleanup(func() { r.cleanup(t) })
	return r
}

// run runs `paasd init` and returns its output, failing on a non-zero exit.
func (r *initRun) run(t *testing.T) string {
	t.Helper()
	cmd := exec.Command(paasdBinary, "init", "--stack", r.stack, "--public-network", r.public,
		"--infrastructure-network", r.infraNet, "--output-dir", r.outDir, "--wait", "3s",
		"--http-port", r.httpPort, "--https-port", r.httpsPort, "--registry-port", r.registryPort)
	cmd.Env = append(os.Environ(), "DATABASE_URL="+r.c.url, "ENCRYPTION_KEY="+r.c.key, "PAAS_INSTANCE_ID="+r.c.instance)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("paasd init: %v\n%s", err, out)
	}
	t.Logf("paasd init:\n%s", out)
	return string(out)
}

// services returns the stack's services by role.
func (r *initRun) services(t *testing.T) map[string]swarm.Service {
	t.Helper()
	list, err := r.c.docker.ServiceList(r.c.ctx, swarm.ServiceListOptions{Filters: filters.NewArgs(filters.Arg("label", infra.LabelStack+"="+r.stack))})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]swarm.Service{}
	for _, s := range list {
		out[s.Spec.Labels[infra.LabelRole]] = s
	}
	return out
}

func (r *initRun) networkID(t *testing.T, name string) string {
	t.Helper()
	n, err := r.c.docker.NetworkInspect(r.c.ctx, name, network.InspectOptions{})
	if err != nil {
		t.Fatalf("network %s: %v", name, err)
	}
	if n.Driver != "overlay" || !n.Attachable {
		t.Fatalf("network %s: driver %s attachable %t, want an attachable overlay", name, n.Driver, n.Attachable)
	}
	return n.ID
}

func (r *initRun) cleanup(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	d := r.c.docker
	byStack := swarm.ServiceListOptions{Filters: filters.NewArgs(filters.Arg("label", infra.LabelStack+"="+r.stack))}
	if svcs, err := d.ServiceList(ctx, byStack); err == nil {
		for _, s := range svcs {
			_ = d.ServiceRemove(ctx, s.ID)
		}
	}
	if cfgs, err := d.ConfigList(ctx, swarm.ConfigListOptions{Filters: filters.NewArgs(filters.Arg("label", infra.LabelStack+"="+r.stack))}); err == nil {
		for _, c := range cfgs {
			_ = d.ConfigRemove(ctx, c.ID)
		}
	}
	// The built-in registry's volume (kept by init when the registry goes).
	swarmtest.Eventually(t, 30*time.Second, "registry volume removed", func() bool {
		err := d.VolumeRemove(ctx, stack.VolumeName(r.stack, infra.RoleRegistry), false)
		return err == nil || errdefs.IsNotFound(err)
	})
	for _, n := range []string{r.public, r.infraNet} {
		for ctx.Err() == nil {
			err := d.NetworkRemove(ctx, n)
			if err == nil || strings.Contains(err.Error(), "not found") {
				break
			}
			select {
			case <-ctx.Done():
				t.Logf("cleanup: network %s: %v", n, err)
			case <-time.After(200 * time.Millisecond):
			}
		}
	}
}

// TestInit runs paasd init on the shared Swarm three times: the first
// creates the networks, configs and stack; the second changes nothing (no
// service's Version.Index moves); after the ACME email setting changes,
// the third updates Traefik alone.
func TestInit(t *testing.T) {
	t.Parallel()
	r := newInitRun(t)
	c := r.c
	// An organization network, as the network loop makes it: Traefik must join it.
	orgNet, err := c.docker.NetworkCreate(c.ctx, netloop.NetworkName(c.instance, c.org.ID), network.CreateOptions{
		Driver: "overlay", Attachable: true, Labels: map[string]string{
			paasswarm.LabelManaged: "true", paasswarm.LabelInstance: c.instance, paasswarm.LabelOrgID: c.org.ID.String(),
		},
	})
	if err != nil {
		t.Fatal(err)
	}

	out := r.run(t)
	for _, want := range []string{"network " + r.public + ": created", "network " + r.infraNet + ": created",
		"service " + r.stack + "_traefik: created", "service " + r.stack + "_traefik: " + stack.PendingPull(stack.DefaultImages()[infra.RoleTraefik])} {
		if !strings.Contains(out, want) {
			t.Errorf("first run does not say %q", want)
		}
	}

	// The stack's services exist, labelled, on the right networks: with
	// registry_url empty, the built-in registry too.
	svcs := r.services(t)
	if len(svcs) != len(stack.Images)+1 {
		t.Fatalf("%d services in stack %s, want %d: %v", len(svcs), r.stack, len(stack.Images)+1, svcs)
	}
	// The registry: recorded as this manager's swarm address and the port,
	// published there in host mode, pinned to this node, its data on a
	// volume; pending, as its image cannot be pulled here.
	info, err := c.docker.Info(c.ctx)
	if err != nil {
		t.Fatal(err)
	}
	regURL := info.Swarm.NodeAddr + ":" + r.registryPort
	if st, err := c.store.GetSetting(c.ctx, "registry_url"); err != nil || st.Value == nil || *st.Value != regURL || st.Sensitive {
		t.Errorf("registry_url = %+v %v, want %s", st.Value, err, regURL)
	}
	reg, ok := svcs[infra.RoleRegistry]
	if !ok {
		t.Fatal("no registry service")
	}
	if p := reg.Spec.EndpointSpec.Ports; len(p) != 1 || strconv.Itoa(int(p[0].PublishedPort)) != r.registryPort || p[0].PublishMode != swarm.PortConfigPublishModeHost {
		t.Errorf("registry ports %+v", p)
	}
	if cs := reg.Spec.TaskTemplate.ContainerSpec; cs.Image != stack.RegistryImage.Default || len(cs.Mounts) != 1 || cs.Mounts[0].Source != stack.VolumeName(r.stack, infra.RoleRegistry) {
		t.Errorf("registry runs %s with mounts %+v", cs.Image, cs.Mounts)
	}
	if pl := reg.Spec.TaskTemplate.Placement; pl == nil || len(pl.Constraints) != 1 || pl.Constraints[0] != "node.id=="+info.Swarm.NodeID {
		t.Errorf("registry placement %+v", pl)
	}
	for _, want := range []string{"service " + r.stack + "_registry: created", "registry: built in at " + regURL + "; recorded registry_url",
		"service " + r.stack + "_registry: " + stack.PendingPull(stack.RegistryImage.Default)} {
		if !strings.Contains(out, want) {
			t.Errorf("first run does not say %q", want)
		}
	}
	publicID, infraID := r.networkID(t, r.public), r.networkID(t, r.infraNet)
	for role, s := range svcs {
		if s.Spec.Name != r.stack+"_"+role || s.Spec.Labels[paasswarm.LabelInstance] != c.instance || s.Spec.Labels[infra.LabelSpecHash] == "" {
			t.Errorf("service %s labels %v", s.Spec.Name, s.Spec.Labels)
		}
		if !netloop.Attached(s.Spec, infraID) {
			t.Errorf("service %s is not on %s", s.Spec.Name, r.infraNet)
		}
	}
	traefik := svcs[infra.RoleTraefik]
	for name, id := range map[string]string{r.public: publicID, "organization network": orgNet.ID} {
		if !netloop.Attached(traefik.Spec, id) {
			t.Errorf("traefik is not on %s", name)
		}
	}
	if svcs[infra.RolePromtail].Spec.Mode.Global == nil {
		t.Error("promtail is not a global service")
	}

	// The swarm settings are recorded, the join tokens sealed.
	sw, err := c.docker.SwarmInspect(c.ctx)
	if err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string]string{settingJoinTokenWorker: sw.JoinTokens.Worker, settingJoinTokenManager: sw.JoinTokens.Manager} {
		st, err := c.store.GetSetting(c.ctx, key)
		if err != nil {
			t.Fatalf("setting %s: %v", key, err)
		}
		got, err := openSetting(c.box, key, st.ValueEncrypted)
		if !st.Sensitive || st.Value != nil || err != nil || got != want {
			t.Errorf("setting %s: sensitive %t, clear value %v, opens to the token: %t (%v)", key, st.Sensitive, st.Value, got == want, err)
		}
	}
	if st, err := c.store.GetSetting(c.ctx, settingSwarmInitialized); err != nil || st.Value == nil || *st.Value != "true" {
		t.Errorf("swarm_initialized: %v %v", st.Value, err)
	}

	// Every rendered file parses; Prometheus's passes promtool.
	for _, name := range []string{"traefik.yml", "loki.yaml", "promtail.yaml", "prometheus.yml", "grafana-datasources.yaml"} {
		data, err := os.ReadFile(filepath.Join(r.outDir, name))
		if err != nil {
			t.Fatal(err)
		}
		var doc map[string]any
		if err := yaml.Unmarshal(data, &doc); err != nil || len(doc) == 0 {
			t.Errorf("%s does not parse: %v", name, err)
		}
	}
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatal("promtool not found: apt-get install -y prometheus (hack/test.sh does it)")
	}
	if out, err := exec.Command(promtool, "check", "config", filepath.Join(r.outDir, "prometheus.yml")).CombinedOutput(); err != nil {
		t.Errorf("promtool check config: %v\n%s", err, out)
	}

	// A second run changes nothing.
	before := versions(svcs)
	out = r.run(t)
	if !strings.Contains(out, "done: nothing changed") || !strings.Contains(out, "settings: unchanged") || strings.Contains(out, ": created") || strings.Contains(out, ": updated") {
		t.Errorf("second run changed something:\n%s", out)
	}
	if after := versions(r.services(t)); !equalVersions(before, after) {
		t.Fatalf("second run moved versions: %v -> %v", before, after)
	}

	// A changed setting rolls only the service whose config it feeds.
	email := "ops@example.org"
	if err := c.store.PutSetting(c.ctx, store.PutSettingParams{Key: settingACMEEmail, Value: &email}); err != nil {
		t.Fatal(err)
	}
	out = r.run(t)
	if !strings.Contains(out, "service "+r.stack+"_traefik: updated") {
		t.Errorf("third run does not update traefik:\n%s", out)
	}
	after := versions(r.services(t))
	for role, v := range after {
		if moved := v != before[role]; moved != (role == infra.RoleTraefik) {
			t.Errorf("%s: version %d -> %d after the ACME email changed", role, before[role], v)
		}
	}
	data, err := os.ReadFile(filepath.Join(r.outDir, "traefik.yml"))
	if err != nil || !strings.Contains(string(data), email) {
		t.Errorf("rendered traefik.yml lacks the new email (%v)", err)
	}

	// An external registry_url: no registry service (the built-in one
	// goes), the setting is left as the operator wrote it, and init still
	// exits 0.
	external := "registry.example.com:5000"
	if err := c.store.PutSetting(c.ctx, store.PutSettingParams{Key: "registry_url", Value: &external}); err != nil {
		t.Fatal(err)
	}
	out = r.run(t)
	for _, want := range []string{"registry: " + external + " is external", "service " + r.stack + "_registry: removed"} {
		if !strings.Contains(out, want) {
			t.Errorf("run with an external registry does not say %q:\n%s", want, out)
		}
	}
	svcs = r.services(t)
	if _, ok := svcs[infra.RoleRegistry]; ok || len(svcs) != len(stack.Images) {
		t.Errorf("with an external registry the stack holds %d services, registry among them: %t", len(svcs), ok)
	}
	if st, err := c.store.GetSetting(c.ctx, "registry_url"); err != nil || st.Value == nil || *st.Value != external {
		t.Errorf("registry_url = %v %v, want %s untouched", st.Value, err, external)
	}
	// Again: still none, nothing changes.
	if out = r.run(t); !strings.Contains(out, "done: nothing changed") || strings.Contains(out, "_registry") {
		t.Errorf("second run with an external registry:\n%s", out)
	}
}

func versions(svcs map[string]swarm.Service) map[string]uint64 {
	out := map[string]uint64{}
	for role, s := range svcs {
		out[role] = s.Version.Index
	}
	return out
}

func equalVersions(a, b map[string]uint64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}
