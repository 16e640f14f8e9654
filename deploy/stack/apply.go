package stack

import (
	"context"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"

	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/swarm"
	"github.com/docker/docker/errdefs"

	"github.com/skypanel/paas/deploy/infra"
)

// Docker is the part of the engine API the Deployer calls.
type Docker interface {
	NetworkList(ctx context.Context, opts network.ListOptions) ([]network.Summary, error)
	NetworkCreate(ctx context.Context, name string, opts network.CreateOptions) (network.CreateResponse, error)
	ConfigList(ctx context.Context, opts swarm.ConfigListOptions) ([]swarm.Config, error)
	ConfigCreate(ctx context.Context, spec swarm.ConfigSpec) (swarm.ConfigCreateResponse, error)
	ConfigRemove(ctx context.Context, id string) error
	ServiceList(ctx context.Context, opts swarm.ServiceListOptions) ([]swarm.Service, error)
	ServiceCreate(ctx context.Context, spec swarm.ServiceSpec, opts swarm.ServiceCreateOptions) (swarm.ServiceCreateResponse, error)
	ServiceUpdate(ctx context.Context, id string, version swarm.Version, spec swarm.ServiceSpec, opts swarm.ServiceUpdateOptions) (swarm.ServiceUpdateResponse, error)
	ServiceInspectWithRaw(ctx context.Context, id string, opts swarm.ServiceInspectOptions) (swarm.Service, []byte, error)
	ServiceRemove(ctx context.Context, id string) error
}

// Deployer applies a rendered stack to Swarm, changing only what differs,
// and says what it did on Out, one line per object.
type Deployer struct {
	// Docker is the engine (a Swarm manager).
	Docker Docker
	// Out receives one progress line per network, config and service.
	Out io.Writer
}

// Result says what Apply changed.
type Result struct {
	// Changed counts the objects created, updated or removed.
	Changed int
}

func (d *Deployer) say(format string, args ...any) {
	if d.Out != nil {
		fmt.Fprintf(d.Out, format+"\n", args...)
	}
}

// Apply makes Swarm hold the stack: the platform networks, one config per
// rendered file, and the services; configs and services of the stack that
// are no longer desired are removed.
func (d *Deployer) Apply(ctx context.Context, c Config, rendered []File) (Result, error) {
	var res Result
	netIDs := map[string]string{}
	for _, name := range []string{c.PublicNetwork, c.InfraNetwork} {
		id, created, err := d.ensureNetwork(ctx, c.Stack, name)
		if err != nil {
			return res, err
		}
		netIDs[name] = id
		if created {
			res.Changed++
			d.say("network %s: created", name)
		} else {
			d.say("network %s: unchanged", name)
		}
	}
	for _, name := range c.OrgNetworks {
		id, err := d.networkID(ctx, name)
		if err != nil {
			return res, err
		}
		if id == "" {
			return res, fmt.Errorf("organization network %s: not found", name)
		}
		netIDs[name] = id
	}

	configIDs, n, err := d.ensureConfigs(ctx, c.Stack, rendered)
	res.Changed += n
	if err != nil {
		return res, err
	}

	n, previous, err := d.ensureServices(ctx, c, rendered, netIDs, configIDs)
	res.Changed += n
	if err != nil {
		return res, err
	}

	n, err = d.pruneConfigs(ctx, c.Stack, configIDs, previous)
	res.Changed += n
	return res, err
}

// networkID returns the id of the network called exactly name, "" if none.
func (d *Deployer) networkID(ctx context.Context, name string) (string, error) {
	list, err := d.Docker.NetworkList(ctx, network.ListOptions{Filters: filters.NewArgs(filters.Arg("name", name))})
	if err != nil {
		return "", fmt.Errorf("list networks: %w", err)
	}
	for _, n := range list { // the name filter matches substrings
		if n.Name == name {
			if n.Driver != "overlay" || !n.Attachable || n.Scope != "swarm" {
				return "", fmt.Errorf("network %s exists but is not an attachable overlay network (driver %s, attachable %t): remove it and run init again", name, n.Driver, n.Attachable)
			}
			return n.ID, nil
		}
	}
	return "", nil
}

func (d *Deployer) ensureNetwork(ctx context.Context, stack, name string) (id string, created bool, err error) {
	if id, err = d.networkID(ctx, name); err != nil || id != "" {
		return id, false, err
	}
	resp, err := d.Docker.NetworkCreate(ctx, name, network.CreateOptions{
		Driver: "overlay", Attachable: true, Scope: "swarm",
		Labels: map[string]string{infra.LabelNetwork: "true"},
	})
	if err != nil {
		return "", false, fmt.Errorf("create network %s: %w", name, err)
	}
	return resp.ID, true, nil
}

// stackFilter selects the stack's objects.
func stackFilter(stack string) filters.Args {
	return filters.NewArgs(filters.Arg("label", infra.LabelStack+"="+stack))
}

// ensureConfigs creates the Swarm config of each rendered file that does
// not exist yet; it returns the id of each desired config by name.
func (d *Deployer) ensureConfigs(ctx context.Context, stack string, rendered []File) (map[string]string, int, error) {
	live, err := d.Docker.ConfigList(ctx, swarm.ConfigListOptions{Filters: stackFilter(stack)})
	if err != nil {
		return nil, 0, fmt.Errorf("list configs: %w", err)
	}
	byName := map[string]string{}
	for _, cfg := range live {
		byName[cfg.Spec.Name] = cfg.ID
	}
	ids := map[string]string{}
	changed := 0
	for _, f := range rendered {
		name := ConfigName(stack, f)
		if id, ok := byName[name]; ok {
			ids[name] = id
			d.say("config %s: unchanged", f.Name)
			continue
		}
		resp, err := d.Docker.ConfigCreate(ctx, swarm.ConfigSpec{
			Annotations: swarm.Annotations{Name: name, Labels: map[string]string{infra.LabelStack: stack, infra.LabelFile: f.Name}},
			Data:        f.Data,
		})
		if err != nil {
			return nil, changed, fmt.Errorf("create config %s: %w", name, err)
		}
		ids[name] = resp.ID
		changed++
		d.say("config %s: created %s", f.Name, name)
	}
	return ids, changed, nil
}

// pruneConfigs removes the stack's configs that neither a desired service
// nor the spec a service would roll back to uses.
func (d *Deployer) pruneConfigs(ctx context.Context, stack string, keep map[string]string, previous map[string]bool) (int, error) {
	live, err := d.Docker.ConfigList(ctx, swarm.ConfigListOptions{Filters: stackFilter(stack)})
	if err != nil {
		return 0, fmt.Errorf("list configs: %w", err)
	}
	removed := 0
	for _, cfg := range live {
		if _, ok := keep[cfg.Spec.Name]; ok || previous[cfg.Spec.Name] {
			continue
		}
		if err := d.Docker.ConfigRemove(ctx, cfg.ID); err != nil {
			if errdefs.IsNotFound(err) {
				continue
			}
			d.say("config %s: old version still in use, kept for now", cfg.Spec.Name)
			continue
		}
		removed++
		d.say("config %s: removed (no longer used)", cfg.Spec.Name)
	}
	return removed, nil
}

// resolve fills in the ids Swarm keeps in a spec: of networks and configs.
func resolve(spec swarm.ServiceSpec, netIDs, configIDs map[string]string) (swarm.ServiceSpec, error) {
	nets := make([]swarm.NetworkAttachmentConfig, 0, len(spec.TaskTemplate.Networks))
	for _, n := range spec.TaskTemplate.Networks {
		id, ok := netIDs[n.Target]
		if !ok {
			return spec, fmt.Errorf("service %s: network %s unknown", spec.Name, n.Target)
		}
		n.Target = id
		nets = append(nets, n)
	}
	spec.TaskTemplate.Networks = nets
	if cs := spec.TaskTemplate.ContainerSpec; cs != nil && len(cs.Configs) > 0 {
		c := *cs
		c.Configs = nil
		for _, r := range cs.Configs {
			rc := *r
			id, ok := configIDs[rc.ConfigName]
			if !ok {
				return spec, fmt.Errorf("service %s: config %s unknown", spec.Name, rc.ConfigName)
			}
			rc.ConfigID = id
			c.Configs = append(c.Configs, &rc)
		}
		spec.TaskTemplate.ContainerSpec = &c
	}
	return spec, nil
}

// networkTargets returns a spec's network ids, sorted.
func networkTargets(spec swarm.ServiceSpec) []string {
	out := make([]string, 0, len(spec.TaskTemplate.Networks))
	for _, n := range spec.TaskTemplate.Networks {
		out = append(out, n.Target)
	}
	sort.Strings(out)
	return slices.Compact(out)
}

// Diff says why live differs from desired (both resolved), "" when it does not.
func Diff(desired, live swarm.ServiceSpec) string {
	var why []string
	if live.Labels[infra.LabelSpecHash] != desired.Labels[infra.LabelSpecHash] {
		why = append(why, "spec changed")
	}
	if !slices.Equal(networkTargets(desired), networkTargets(live)) {
		why = append(why, "networks changed")
	}
	return strings.Join(why, ", ")
}

// ensureServices creates, updates and removes the stack's services; it
// returns how many it changed and the configs their rollback specs use.
func (d *Deployer) ensureServices(ctx context.Context, c Config, rendered []File, netIDs, configIDs map[string]string) (int, map[string]bool, error) {
	live, err := d.Docker.ServiceList(ctx, swarm.ServiceListOptions{Filters: stackFilter(c.Stack)})
	if err != nil {
		return 0, nil, fmt.Errorf("list services: %w", err)
	}
	byName := map[string]swarm.Service{}
	previous := map[string]bool{}
	for _, s := range live {
		byName[s.Spec.Name] = s
		// An update makes the current spec the previous one.
		for _, spec := range []*swarm.ServiceSpec{&s.Spec, s.PreviousSpec} {
			if spec != nil && spec.TaskTemplate.ContainerSpec != nil {
				for _, r := range spec.TaskTemplate.ContainerSpec.Configs {
					previous[r.ConfigName] = true
				}
			}
		}
	}
	changed := 0
	desired := DesiredServices(c, rendered)
	want := map[string]bool{}
	for _, spec := range desired {
		want[spec.Name] = true
		spec, err := resolve(spec, netIDs, configIDs)
		if err != nil {
			return changed, nil, err
		}
		cur, ok := byName[spec.Name]
		if !ok {
			if _, err := d.Docker.ServiceCreate(ctx, spec, swarm.ServiceCreateOptions{}); err != nil {
				return changed, nil, fmt.Errorf("create service %s: %w", spec.Name, err)
			}
			changed++
			d.say("service %s: created", spec.Name)
			continue
		}
		why, err := d.update(ctx, cur, spec)
		if err != nil {
			return changed, nil, err
		}
		if why == "" {
			d.say("service %s: unchanged", spec.Name)
			continue
		}
		changed++
		d.say("service %s: updated (%s)", spec.Name, why)
	}
	for _, s := range live {
		if want[s.Spec.Name] {
			continue
		}
		if err := d.Docker.ServiceRemove(ctx, s.ID); err != nil && !errdefs.IsNotFound(err) {
			return changed, nil, fmt.Errorf("remove service %s: %w", s.Spec.Name, err)
		}
		changed++
		d.say("service %s: removed (no longer part of the stack)", s.Spec.Name)
	}
	return changed, previous, nil
}

// update writes spec over cur when they differ, re-reading and deciding
// again when another writer (the network loop) got in first.
func (d *Deployer) update(ctx context.Context, cur swarm.Service, spec swarm.ServiceSpec) (string, error) {
	for attempt := 0; ; attempt++ {
		why := Diff(spec, cur.Spec)
		if why == "" {
			return "", nil
		}
		_, err := d.Docker.ServiceUpdate(ctx, cur.ID, cur.Version, spec, swarm.ServiceUpdateOptions{})
		if err == nil {
			return why, nil
		}
		if attempt >= 5 || !strings.Contains(err.Error(), "update out of sequence") {
			return "", fmt.Errorf("update service %s: %w", spec.Name, err)
		}
		if cur, _, err = d.Docker.ServiceInspectWithRaw(ctx, cur.ID, swarm.ServiceInspectOptions{}); err != nil {
			return "", fmt.Errorf("inspect service %s: %w", spec.Name, err)
		}
	}
}
