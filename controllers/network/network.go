// Package network holds the network loop: every organization gets an
// overlay network of its own, which its apps (and only they) join, so one
// tenant's containers cannot reach another's. The installation's Traefik
// joins each one to route to its apps, and leaves it before it is removed. The loop creates the network
// while the organization exists, records its id as the organization's
// status, and removes it once the organization is gone.
package network

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/errdefs"
	"github.com/google/uuid"
	"github.com/rs/zerolog"

	"github.com/skypanel/paas/controllers/runtime"
	paasswarm "github.com/skypanel/paas/controllers/swarm"
	"github.com/skypanel/paas/store"
	"github.com/skypanel/paas/store/key"
)

// Name is the network loop's name in the registry, logs and metrics.
const Name = "network"

// Store is the part of the database the network loop uses.
type Store interface {
	GetOrganization(ctx context.Context, id uuid.UUID) (store.Organization, error)
	SetOrganizationNetwork(ctx context.Context, arg store.SetOrganizationNetworkParams) error
}

// Docker is the part of the engine API the network loop calls itself;
// lists go through the cache.
type Docker interface {
	NetworkCreate(ctx context.Context, name string, opts network.CreateOptions) (network.CreateResponse, error)
	NetworkRemove(ctx context.Context, id string) error
}

// Reconciler is the network loop; configure it by fields.
type Reconciler struct {
	// Store reads organizations and records their network.
	Store Store
	// Docker creates and removes networks.
	Docker Docker
	// Networks is the cache the loop reads networks from.
	Networks *Networks
	// InstanceID scopes the networks the loop may touch.
	InstanceID string
	// Now reads the clock.
	Now func() time.Time
}

// NetworkName names an organization's network: the installation and the
// organization in full, so the name alone maps an event back to its key.
func NetworkName(instance string, org uuid.UUID) string {
	return "paas-" + instance + "-" + org.String()
}

// OrgOfNetwork returns the organization whose network of this installation
// is called name.
func OrgOfNetwork(instance, name string) (uuid.UUID, bool) {
	rest, ok := strings.CutPrefix(name, "paas-"+instance+"-")
	if !ok {
		return uuid.Nil, false
	}
	id, err := uuid.Parse(rest)
	return id, err == nil && NetworkName(instance, id) == name
}

// Reconcile converges one organization's network.
func (r *Reconciler) Reconcile(ctx context.Context, k key.Key) (runtime.Result, error) {
	id, err := k.UUID()
	if err != nil {
		return runtime.Result{}, nil
	}
	ctx = zerolog.Ctx(ctx).With().Str("org", id.String()).Logger().WithContext(ctx)
	// Oldest first: it is the one to keep should two exist.
	nets, err := r.Networks.Get(ctx, id)
	if err != nil {
		return runtime.Result{}, err
	}

	_, err = r.Store.GetOrganization(ctx, id)
	if store.IsNotFound(err) {
		return runtime.Result{}, r.remove(ctx, id, nets)
	}
	if err != nil {
		return runtime.Result{}, fmt.Errorf("read organization: %w", err)
	}
	if len(nets) == 0 {
		resp, err := r.Docker.NetworkCreate(ctx, NetworkName(r.InstanceID, id), network.CreateOptions{
			Driver: "overlay", Attachable: true, Labels: map[string]string{
				paasswarm.LabelManaged: "true", paasswarm.LabelInstance: r.InstanceID, paasswarm.LabelOrgID: id.String(),
			},
		})
		if err != nil {
			return runtime.Result{}, fmt.Errorf("create network: %w", err)
		}
		zerolog.Ctx(ctx).Info().Str("network", NetworkName(r.InstanceID, id)).Msg("created the organization's network")
		if nets, err = r.Networks.Refresh(ctx, id); err != nil {
			return runtime.Result{}, err
		}
		if len(nets) == 0 { // not listed yet: use what the create said
			nets = []network.Summary{{ID: resp.ID, Name: NetworkName(r.InstanceID, id)}}
		}
	}
	if err := r.remove(ctx, id, nets[1:]); err != nil {
		return runtime.Result{}, err
	}
	netID := nets[0].ID
	if err := r.attachTraefik(ctx, netID); err != nil {
		return runtime.Result{}, err
	}
	if err := r.Store.SetOrganizationNetwork(ctx, store.SetOrganizationNetworkParams{ID: id, NetworkID: &netID}); err != nil {
		return runtime.Result{}, fmt.Errorf("record network: %w", err)
	}
	return runtime.Result{}, nil
}

// attachTraefik joins the installation's Traefik to an organization's
// network, so it can route to the organization's apps.
func (r *Reconciler) attachTraefik(ctx context.Context, netID string) error {
	if r.Networks.Traefik == nil {
		return nil
	}
	wrote, err := r.Networks.Traefik.Attach(ctx, netID)
	if wrote {
		zerolog.Ctx(ctx).Info().Str("network", netID).Msg("joined traefik to the organization's network")
	}
	return err
}

// detachTraefik takes Traefik off a network about to be removed: a network
// in use by Traefik's task cannot go.
func (r *Reconciler) detachTraefik(ctx context.Context, n network.Summary) error {
	if r.Networks.Traefik == nil {
		return nil
	}
	wrote, err := r.Networks.Traefik.Detach(ctx, n.ID)
	if wrote {
		zerolog.Ctx(ctx).Info().Str("network", n.Name).Msg("took traefik off a network about to be removed")
	}
	return err
}

// remove deletes networks; one still used by a task fails, and the key is
// retried with backoff until its services are gone.
func (r *Reconciler) remove(ctx context.Context, org uuid.UUID, nets []network.Summary) error {
	if len(nets) == 0 {
		return nil
	}
	for _, n := range nets {
		if err := r.detachTraefik(ctx, n); err != nil {
			return err
		}
		if err := r.Docker.NetworkRemove(ctx, n.ID); err != nil && !errdefs.IsNotFound(err) {
			return fmt.Errorf("remove network %s: %w", n.Name, err)
		}
		zerolog.Ctx(ctx).Info().Str("network", n.Name).Msg("removed a network no organization needs")
	}
	_, err := r.Networks.Refresh(ctx, org)
	return err
}
