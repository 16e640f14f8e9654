package network

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/swarm"
	"github.com/docker/docker/errdefs"

	paasswarm "github.com/skypanel/paas/controllers/swarm"
	"github.com/skypanel/paas/deploy/infra"
)

// ServiceDocker is the part of the engine API that joining Traefik to
// networks needs.
type ServiceDocker interface {
	ServiceList(ctx context.Context, opts swarm.ServiceListOptions) ([]swarm.Service, error)
	ServiceInspectWithRaw(ctx context.Context, id string, opts swarm.ServiceInspectOptions) (swarm.Service, []byte, error)
	ServiceUpdate(ctx context.Context, id string, version swarm.Version, spec swarm.ServiceSpec, opts swarm.ServiceUpdateOptions) (swarm.ServiceUpdateResponse, error)
}

// Traefik keeps this installation's Traefik service (made by `paasd init`,
// labelled paas.infra.role=traefik and paas.instance) joined to every
// organization network, so it reaches every tenant's apps. It caches the
// service between resyncs: one ServiceList per resync, none per organization.
type Traefik struct {
	// Docker lists and updates the service.
	Docker ServiceDocker
	// InstanceID selects this installation's Traefik.
	InstanceID string

	mu     sync.Mutex
	filled bool
	svc    *swarm.Service // nil when there is no Traefik (init has not run)
}

// Resync re-reads the Traefik service.
func (t *Traefik) Resync(ctx context.Context) error {
	list, err := t.Docker.ServiceList(ctx, swarm.ServiceListOptions{Filters: filters.NewArgs(
		filters.Arg("label", infra.LabelRole+"="+infra.RoleTraefik),
		filters.Arg("label", paasswarm.LabelInstance+"="+t.InstanceID),
	)})
	if err != nil {
		return fmt.Errorf("list traefik services: %w", err)
	}
	slices.SortFunc(list, func(a, b swarm.Service) int { return a.CreatedAt.Compare(b.CreatedAt) })
	t.mu.Lock()
	defer t.mu.Unlock()
	t.filled, t.svc = true, nil
	if len(list) > 0 {
		t.svc = &list[0]
	}
	return nil
}

// cached returns the cached service, reading it first when never read.
func (t *Traefik) cached(ctx context.Context) (*swarm.Service, error) {
	t.mu.Lock()
	filled, svc := t.filled, t.svc
	t.mu.Unlock()
	if !filled {
		if err := t.Resync(ctx); err != nil {
			return nil, err
		}
		t.mu.Lock()
		svc = t.svc
		t.mu.Unlock()
	}
	return svc, nil
}

// Attached says whether spec joins the network netID.
func Attached(spec swarm.ServiceSpec, netID string) bool {
	return slices.ContainsFunc(spec.TaskTemplate.Networks, func(n swarm.NetworkAttachmentConfig) bool { return n.Target == netID })
}

// Attach joins Traefik to the network; it does nothing when Traefik is
// already on it or does not exist.
func (t *Traefik) Attach(ctx context.Context, netID string) (bool, error) {
	return t.set(ctx, netID, true)
}

// Detach takes Traefik off the network, so the network can be removed.
func (t *Traefik) Detach(ctx context.Context, netID string) (bool, error) {
	return t.set(ctx, netID, false)
}

// set writes Traefik's membership of netID when it differs, starting from
// the live spec with its version and re-reading when another writer (paasd
// init) got in first. It reports whether it wrote.
func (t *Traefik) set(ctx context.Context, netID string, attach bool) (bool, error) {
	svc, err := t.cached(ctx)
	if err != nil || svc == nil || Attached(svc.Spec, netID) == attach {
		return false, err
	}
	for attempt := 0; ; attempt++ {
		live, _, err := t.Docker.ServiceInspectWithRaw(ctx, svc.ID, swarm.ServiceInspectOptions{})
		if errdefs.IsNotFound(err) {
			return false, t.Resync(ctx)
		}
		if err != nil {
			return false, fmt.Errorf("inspect traefik: %w", err)
		}
		if Attached(live.Spec, netID) == attach {
			t.store(live)
			return false, nil
		}
		spec := live.Spec
		spec.TaskTemplate.Networks = slices.DeleteFunc(slices.Clone(spec.TaskTemplate.Networks), func(n swarm.NetworkAttachmentConfig) bool { return n.Target == netID })
		if attach {
			spec.TaskTemplate.Networks = append(spec.TaskTemplate.Networks, swarm.NetworkAttachmentConfig{Target: netID})
		}
		_, err = t.Docker.ServiceUpdate(ctx, live.ID, live.Version, spec, swarm.ServiceUpdateOptions{})
		if err == nil {
			live.Spec = spec
			live.Version.Index++ // a lower bound: the next write re-reads anyway
			t.store(live)
			return true, nil
		}
		if attempt >= 7 || !strings.Contains(err.Error(), "update out of sequence") {
			return false, fmt.Errorf("update traefik networks: %w", err)
		}
	}
}

func (t *Traefik) store(svc swarm.Service) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.filled, t.svc = true, &svc
}
