package stack

import (
	"slices"
	"testing"

	"github.com/docker/docker/api/types/swarm"

	"github.com/skypanel/paas/deploy/infra"
)

func desired(t *testing.T, c Config) map[string]swarm.ServiceSpec {
	t.Helper()
	files, err := Render(c)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]swarm.ServiceSpec{}
	for _, s := range DesiredServices(c, files) {
		out[s.Labels[infra.LabelRole]] = s
	}
	return out
}

func TestDesiredServices(t *testing.T) {
	c := testConfig()
	c.OrgNetworks = []string{"paas-inst1-org"}
	specs := desired(t, c)
	for _, role := range []string{infra.RoleTraefik, infra.RoleLoki, infra.RolePromtail, infra.RolePrometheus, infra.RoleCadvisor, infra.RoleGrafana} {
		s, ok := specs[role]
		if !ok {
			t.Fatalf("no %s service", role)
		}
		if s.Name != "paas-infra_"+role || s.Labels[infra.LabelStack] != "paas-infra" || s.Labels["paas.instance"] != "inst1" {
			t.Errorf("%s: name %s labels %v", role, s.Name, s.Labels)
		}
		if _, managed := s.Labels["paas.managed"]; managed {
			t.Errorf("%s carries paas.managed: the app loop would remove it as an orphan", role)
		}
		if s.Labels[infra.LabelSpecHash] != SpecHash(s) {
			t.Errorf("%s: hash label %s, want %s", role, s.Labels[infra.LabelSpecHash], SpecHash(s))
		}
		if s.TaskTemplate.ContainerSpec.Image != DefaultImages()[role] {
			t.Errorf("%s runs %s", role, s.TaskTemplate.ContainerSpec.Image)
		}
	}
	for role, global := range map[string]bool{infra.RolePromtail: true, infra.RoleCadvisor: true, infra.RoleTraefik: false} {
		if (specs[role].Mode.Global != nil) != global {
			t.Errorf("%s global = %t, want %t", role, specs[role].Mode.Global != nil, global)
		}
	}
	tr := specs[infra.RoleTraefik]
	var nets []string
	for _, n := range tr.TaskTemplate.Networks {
		nets = append(nets, n.Target)
	}
	if !slices.Equal(nets, []string{"paas-public", "paas-infrastructure", "paas-inst1-org"}) {
		t.Errorf("traefik networks %v", nets)
	}
	for _, p := range tr.EndpointSpec.Ports {
		if p.PublishMode != swarm.PortConfigPublishModeHost {
			t.Errorf("traefik port %d published in %s mode, want host", p.PublishedPort, p.PublishMode)
		}
	}
}

// TestOnlyTheAffectedServiceChanges: a setting that feeds one template
// changes one service's hash; organization networks change no hash.
func TestOnlyTheAffectedServiceChanges(t *testing.T) {
	base := desired(t, testConfig())
	for name, tc := range map[string]struct {
		mutate func(*Config)
		want   []string
	}{
		"acme email":         {func(c *Config) { c.ACMEEmail = "other@example.com" }, []string{infra.RoleTraefik}},
		"loki retention":     {func(c *Config) { c.LokiRetentionDays = 14 }, []string{infra.RoleLoki}},
		"paasd target":       {func(c *Config) { c.PaasdMetricsTarget = "paasd:9000" }, []string{infra.RolePrometheus}},
		"grafana image":      {func(c *Config) { c.Images[infra.RoleGrafana] = "grafana/grafana:12.0.0" }, []string{infra.RoleGrafana}},
		"organization added": {func(c *Config) { c.OrgNetworks = []string{"paas-inst1-x"} }, nil},
		"nothing":            {func(*Config) {}, nil},
	} {
		t.Run(name, func(t *testing.T) {
			c := testConfig()
			tc.mutate(&c)
			var changed []string
			for role, s := range desired(t, c) {
				if s.Labels[infra.LabelSpecHash] != base[role].Labels[infra.LabelSpecHash] {
					changed = append(changed, role)
				}
			}
			slices.Sort(changed)
			if !slices.Equal(changed, tc.want) {
				t.Fatalf("changed %v, want %v", changed, tc.want)
			}
		})
	}
}

func TestDiff(t *testing.T) {
	spec := func(hash string, nets ...string) swarm.ServiceSpec {
		s := swarm.ServiceSpec{Annotations: swarm.Annotations{Labels: map[string]string{infra.LabelSpecHash: hash}}}
		for _, n := range nets {
			s.TaskTemplate.Networks = append(s.TaskTemplate.Networks, swarm.NetworkAttachmentConfig{Target: n})
		}
		return s
	}
	for name, tc := range map[string]struct {
		desired, live swarm.ServiceSpec
		want          string
	}{
		"same":               {spec("h", "a", "b"), spec("h", "a", "b"), ""},
		"networks reordered": {spec("h", "a", "b"), spec("h", "b", "a"), ""},
		"hash differs":       {spec("h", "a"), spec("g", "a"), "spec changed"},
		"network added":      {spec("h", "a", "b"), spec("h", "a"), "networks changed"},
		"both":               {spec("h", "a"), spec("g"), "spec changed, networks changed"},
		"hash label removed": {spec("h"), swarm.ServiceSpec{}, "spec changed"},
	} {
		t.Run(name, func(t *testing.T) {
			if got := Diff(tc.desired, tc.live); got != tc.want {
				t.Fatalf("Diff = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestResolve(t *testing.T) {
	c := testConfig()
	files, err := Render(c)
	if err != nil {
		t.Fatal(err)
	}
	nets := map[string]string{"paas-public": "n1", "paas-infrastructure": "n2"}
	cfgs := map[string]string{}
	for _, f := range files {
		cfgs[ConfigName(c.Stack, f)] = "c-" + f.Name
	}
	for _, spec := range DesiredServices(c, files) {
		got, err := resolve(spec, nets, cfgs)
		if err != nil {
			t.Fatalf("%s: %v", spec.Name, err)
		}
		for _, n := range got.TaskTemplate.Networks {
			if n.Target != "n1" && n.Target != "n2" {
				t.Errorf("%s: network %s not resolved", spec.Name, n.Target)
			}
		}
		for _, r := range got.TaskTemplate.ContainerSpec.Configs {
			if r.ConfigID == "" {
				t.Errorf("%s: config %s not resolved", spec.Name, r.ConfigName)
			}
		}
		if SpecHash(got) != spec.Labels[infra.LabelSpecHash] {
			t.Errorf("%s: resolving ids changed the hash", spec.Name)
		}
		if spec.TaskTemplate.Networks[0].Target != "paas-public" && spec.TaskTemplate.Networks[0].Target != "paas-infrastructure" {
			t.Errorf("%s: resolve modified the desired spec", spec.Name)
		}
	}
	if _, err := resolve(DesiredServices(c, files)[0], map[string]string{}, cfgs); err == nil {
		t.Error("an unknown network resolved")
	}
}

// TestRegistryService: the built-in registry is a service only when the
// config asks for it: one replica pinned to its node, its data on a
// volume, published in host mode on the chosen port, labelled with the
// registry_url recorded for it.
func TestRegistryService(t *testing.T) {
	if _, ok := desired(t, testConfig())[infra.RoleRegistry]; ok {
		t.Fatal("a registry service without Config.Registry")
	}
	c := testConfig()
	c.Registry = &Registry{Port: 5000, NodeID: "node1", URL: "10.0.0.5:5000"}
	c.Images[infra.RoleRegistry] = RegistryImage.Default
	s, ok := desired(t, c)[infra.RoleRegistry]
	if !ok {
		t.Fatal("no registry service")
	}
	cs := s.TaskTemplate.ContainerSpec
	if s.Name != "paas-infra_registry" || cs.Image != "registry:2" || s.Labels[infra.LabelRegistryURL] != "10.0.0.5:5000" {
		t.Errorf("registry: name %s image %s labels %v", s.Name, cs.Image, s.Labels)
	}
	if len(cs.Mounts) != 1 || cs.Mounts[0].Source != "paas-infra_registry-data" || cs.Mounts[0].Target != "/var/lib/registry" {
		t.Errorf("registry mounts %+v", cs.Mounts)
	}
	if p := s.EndpointSpec.Ports; len(p) != 1 || p[0].PublishedPort != 5000 || p[0].TargetPort != 5000 || p[0].PublishMode != swarm.PortConfigPublishModeHost {
		t.Errorf("registry ports %+v", p)
	}
	if s.TaskTemplate.Placement == nil || !slices.Equal(s.TaskTemplate.Placement.Constraints, []string{"node.id==node1"}) {
		t.Errorf("registry placement %+v", s.TaskTemplate.Placement)
	}
	if *s.Mode.Replicated.Replicas != 1 {
		t.Errorf("registry replicas %d", *s.Mode.Replicated.Replicas)
	}
	c.Registry.Port = c.HTTPPort
	if err := c.Validate(); err == nil {
		t.Error("a registry on Traefik's HTTP port validates")
	}
}
