package network

import (
	"context"
	"fmt"
	"slices"
	"sync"

	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
	"github.com/google/uuid"

	paasswarm "github.com/skypanel/paas/controllers/swarm"
)

// Lister is the Docker call the cache makes.
type Lister interface {
	NetworkList(ctx context.Context, opts network.ListOptions) ([]network.Summary, error)
}

// Networks caches this installation's organization networks, so a resync
// of any number of organizations costs one NetworkList; an event or a
// write refreshes one organization.
type Networks struct {
	// Client lists networks.
	Client Lister
	// InstanceID selects this installation's networks.
	InstanceID string
	// Traefik, when set, is refreshed with every Resync.
	Traefik *Traefik

	mu sync.RWMutex
	// byOrg holds each organization's networks, oldest first; nil until
	// the first Resync, after which a missing key means none.
	byOrg map[uuid.UUID][]network.Summary
}

// Resync replaces the cache with one list (and Traefik's with another)
// and returns the organizations that have a network.
func (n *Networks) Resync(ctx context.Context) ([]uuid.UUID, error) {
	list, err := n.Client.NetworkList(ctx, network.ListOptions{Filters: paasswarm.InstanceFilter(n.InstanceID)})
	if err != nil {
		return nil, fmt.Errorf("list networks: %w", err)
	}
	byOrg := map[uuid.UUID][]network.Summary{}
	for _, net := range list {
		if org, ok := OrgOfNetwork(n.InstanceID, net.Name); ok {
			byOrg[org] = append(byOrg[org], net)
		}
	}
	if n.Traefik != nil {
		if err := n.Traefik.Resync(ctx); err != nil {
			return nil, err
		}
	}
	orgs := make([]uuid.UUID, 0, len(byOrg))
	for org, nets := range byOrg {
		sortOldestFirst(nets)
		orgs = append(orgs, org)
	}
	n.mu.Lock()
	n.byOrg = byOrg
	n.mu.Unlock()
	return orgs, nil
}

// Refresh re-reads one organization's networks.
func (n *Networks) Refresh(ctx context.Context, org uuid.UUID) ([]network.Summary, error) {
	list, err := n.Client.NetworkList(ctx, network.ListOptions{Filters: filters.NewArgs(
		filters.Arg("label", paasswarm.LabelInstance+"="+n.InstanceID),
		filters.Arg("label", paasswarm.LabelOrgID+"="+org.String()),
	)})
	if err != nil {
		return nil, fmt.Errorf("list networks: %w", err)
	}
	sortOldestFirst(list)
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.byOrg == nil {
		n.byOrg = map[uuid.UUID][]network.Summary{}
	}
	n.byOrg[org] = list
	return slices.Clone(list), nil
}

// Get returns an organization's cached networks, oldest first, refreshing
// them when the cache has not been filled yet.
func (n *Networks) Get(ctx context.Context, org uuid.UUID) ([]network.Summary, error) {
	n.mu.RLock()
	filled, nets := n.byOrg != nil, slices.Clone(n.byOrg[org])
	n.mu.RUnlock()
	if !filled {
		return n.Refresh(ctx, org)
	}
	return nets, nil
}

func sortOldestFirst(nets []network.Summary) {
	slices.SortFunc(nets, func(a, b network.Summary) int { return a.Created.Compare(b.Created) })
}
