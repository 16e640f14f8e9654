package stack

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"maps"
	"time"

	"github.com/docker/docker/api/types/mount"
	"github.com/docker/docker/api/types/swarm"

	"github.com/skypanel/paas/controllers/servicespec"
	"github.com/skypanel/paas/deploy/infra"
)

// labelInstance is the installation label, as on every app service.
const labelInstance = servicespec.LabelInstance

// ServiceName names a role's service in the stack, as `docker stack deploy` would.
func ServiceName(stack, role string) string { return stack + "_" + role }

// VolumeName names a role's data volume in the stack.
func VolumeName(stack, role string) string { return stack + "_" + role + "-data" }

// DesiredServices renders the stack's service specs from the config and
// its rendered files. Configs are referenced by name (ConfigID empty) and
// networks by name; the spec-hash label covers everything else.
func DesiredServices(c Config, rendered []File) []swarm.ServiceSpec {
	byRole := map[string]File{} // each role's first file: the one its arguments name
	allOf := map[string][]File{}
	for _, f := range rendered {
		if _, ok := byRole[f.Role]; !ok {
			byRole[f.Role] = f
		}
		allOf[f.Role] = append(allOf[f.Role], f)
	}
	one := uint64(1)
	docker := mount.Mount{Type: mount.TypeBind, Source: "/var/run/docker.sock", Target: "/var/run/docker.sock", ReadOnly: true}
	volume := func(role, target string) mount.Mount {
		return mount.Mount{Type: mount.TypeVolume, Source: VolumeName(c.Stack, role), Target: target,
			VolumeOptions: &mount.VolumeOptions{Labels: map[string]string{infra.LabelStack: c.Stack}}}
	}
	bindRO := func(src, dst string) mount.Mount {
		return mount.Mount{Type: mount.TypeBind, Source: src, Target: dst, ReadOnly: true}
	}
	replicated := swarm.ServiceMode{Replicated: &swarm.ReplicatedService{Replicas: &one}}
	global := swarm.ServiceMode{Global: &swarm.GlobalService{}}
	infraOnly := []string{c.InfraNetwork}

	type svc struct {
		role     string
		args     []string
		env      []string
		mode     swarm.ServiceMode
		mounts   []mount.Mount
		networks []string
		ports    []swarm.PortConfig
		manager  bool
		// constraints pin the service (besides manager).
		constraints []string
		labels      map[string]string
	}
	list := []svc{
		{
			role: infra.RoleTraefik, args: []string{"--configFile=" + byRole[infra.RoleTraefik].Target},
			mode: replicated, mounts: []mount.Mount{docker, volume(infra.RoleTraefik, "/letsencrypt")},
			// Traefik joins every organization's network to reach its apps.
			networks: append([]string{c.PublicNetwork, c.InfraNetwork}, c.OrgNetworks...),
			// Host mode: the routing mesh is not needed to reach the node Traefik runs on.
			ports: []swarm.PortConfig{
				{Name: infra.EntryPointWeb, Protocol: swarm.PortConfigProtocolTCP, TargetPort: 80, PublishedPort: c.HTTPPort, PublishMode: swarm.PortConfigPublishModeHost},
				{Name: infra.EntryPointWebsecure, Protocol: swarm.PortConfigProtocolTCP, TargetPort: 443, PublishedPort: c.HTTPSPort, PublishMode: swarm.PortConfigPublishModeHost},
			},
			// The Swarm provider reads services from a manager's engine.
			manager: true,
		},
		{
			role: infra.RoleLoki, args: []string{"-config.file=" + byRole[infra.RoleLoki].Target},
			mode: replicated, mounts: []mount.Mount{volume(infra.RoleLoki, "/loki")}, networks: infraOnly,
		},
		{
			role: infra.RolePromtail, args: []string{"-config.file=" + byRole[infra.RolePromtail].Target},
			mode: global, mounts: []mount.Mount{docker, volume(infra.RolePromtail, "/positions")}, networks: infraOnly,
		},
		{
			role: infra.RolePrometheus,
			args: []string{"--config.file=" + byRole[infra.RolePrometheus].Target, "--storage.tsdb.path=/prometheus", "--storage.tsdb.retention.time=15d"},
			mode: replicated, mounts: []mount.Mount{volume(infra.RolePrometheus, "/prometheus")}, networks: infraOnly,
		},
		{
			role: infra.RoleCadvisor,
			args: []string{"--docker_only=true", "--housekeeping_interval=30s", "--store_container_labels=false",
				"--whitelisted_container_labels=" + servicespec.LabelAppID + "," + servicespec.LabelOrgID + ",com.docker.swarm.service.name"},
			mode: global,
			mounts: []mount.Mount{bindRO("/", "/rootfs"), bindRO("/var/run", "/var/run"), bindRO("/sys", "/sys"),
				bindRO("/var/lib/docker", "/var/lib/docker")},
			networks: infraOnly,
		},
		{
			role: infra.RoleGrafana, env: []string{"GF_ANALYTICS_REPORTING_ENABLED=false", "GF_USERS_ALLOW_SIGN_UP=false", "GF_AUTH_ANONYMOUS_ENABLED=false"},
			mode: replicated, mounts: []mount.Mount{volume(infra.RoleGrafana, "/var/lib/grafana")}, networks: infraOnly,
		},
	}
	if r := c.Registry; r != nil {
		list = append(list, svc{
			role: infra.RoleRegistry, env: []string{"REGISTRY_STORAGE_DELETE_ENABLED=true"},
			mode: replicated, mounts: []mount.Mount{volume(infra.RoleRegistry, "/var/lib/registry")}, networks: infraOnly,
			// Host mode on the node holding the volume: nodes pull from
			// that node's address (the routing mesh is not relied on).
			ports: []swarm.PortConfig{{Name: "registry", Protocol: swarm.PortConfigProtocolTCP, TargetPort: 5000,
				PublishedPort: r.Port, PublishMode: swarm.PortConfigPublishModeHost}},
			constraints: []string{"node.id==" + r.NodeID},
			labels:      map[string]string{infra.LabelRegistryURL: r.URL},
		})
	}

	specs := make([]swarm.ServiceSpec, 0, len(list))
	for _, s := range list {
		image := c.Images[s.role]
		labels := map[string]string{
			infra.LabelStack: c.Stack,
			infra.LabelRole:  s.role,
			labelInstance:    c.InstanceID,
			// As `docker stack deploy` labels its services.
			"com.docker.stack.image": image,
		}
		spec := swarm.ServiceSpec{
			Annotations: swarm.Annotations{Name: ServiceName(c.Stack, s.role), Labels: labels},
			TaskTemplate: swarm.TaskSpec{
				ContainerSpec: &swarm.ContainerSpec{
					Image:  image,
					Labels: map[string]string{infra.LabelStack: c.Stack, infra.LabelRole: s.role, labelInstance: c.InstanceID},
					Args:   s.args,
					Env:    s.env,
					Mounts: s.mounts,
				},
				RestartPolicy: &swarm.RestartPolicy{Condition: swarm.RestartPolicyConditionAny},
			},
			Mode: s.mode,
			UpdateConfig: &swarm.UpdateConfig{
				Parallelism: 1, Order: swarm.UpdateOrderStopFirst,
				FailureAction: swarm.UpdateFailureActionPause, Monitor: 10 * time.Second,
			},
			// DNS round robin: names resolve to the tasks themselves, with no
			// virtual IP (which needs IPVS) in between.
			EndpointSpec: &swarm.EndpointSpec{Mode: swarm.ResolutionModeDNSRR, Ports: s.ports},
		}
		for k, v := range s.labels {
			spec.Labels[k] = v
		}
		var constraints []string
		if s.manager {
			constraints = append(constraints, "node.role==manager")
		}
		if constraints = append(constraints, s.constraints...); len(constraints) > 0 {
			spec.TaskTemplate.Placement = &swarm.Placement{Constraints: constraints}
		}
		for _, f := range allOf[s.role] {
			spec.TaskTemplate.ContainerSpec.Configs = append(spec.TaskTemplate.ContainerSpec.Configs, &swarm.ConfigReference{
				File:       &swarm.ConfigReferenceFileTarget{Name: f.Target, UID: "0", GID: "0", Mode: 0o444},
				ConfigName: ConfigName(c.Stack, f),
			})
		}
		for _, n := range s.networks {
			spec.TaskTemplate.Networks = append(spec.TaskTemplate.Networks, swarm.NetworkAttachmentConfig{Target: n, Aliases: []string{s.role}})
		}
		spec.Labels[infra.LabelSpecHash] = SpecHash(spec)
		specs = append(specs, spec)
	}
	return specs
}

// SpecHash fingerprints a service spec without its networks (the network
// loop adds and removes organization networks on Traefik; they are compared
// as a set instead), config ids (Swarm's, not ours) and the hash label itself.
func SpecHash(spec swarm.ServiceSpec) string {
	spec.Labels = maps.Clone(spec.Labels)
	delete(spec.Labels, infra.LabelSpecHash)
	spec.TaskTemplate.Networks = nil
	if cs := spec.TaskTemplate.ContainerSpec; cs != nil {
		c := *cs
		c.Configs = nil
		for _, r := range cs.Configs {
			rc := *r
			rc.ConfigID = ""
			c.Configs = append(c.Configs, &rc)
		}
		spec.TaskTemplate.ContainerSpec = &c
	}
	b, err := json.Marshal(spec)
	if err != nil {
		// A service spec holds only marshalable values.
		panic("stack: marshal service spec: " + err.Error())
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])[:16]
}
