package main

import (
	"context"
	"fmt"

	"github.com/docker/docker/api/types"
	"github.com/docker/docker/api/types/swarm"

	paasswarm "github.com/skypanel/paas/controllers/swarm"
	"github.com/skypanel/paas/store"
)

// installationKey is the paas_settings key holding the installation id.
const installationKey = "installation_id"

// instanceStore is the part of the database resolveInstance reads.
type instanceStore interface {
	GetSetting(ctx context.Context, key string) (store.Setting, error)
	InsertSettingIfAbsent(ctx context.Context, arg store.InsertSettingIfAbsentParams) (*string, error)
	InstallationID(ctx context.Context) (string, error)
}

// serviceLister is the Docker call resolveInstance makes.
type serviceLister interface {
	ServiceList(ctx context.Context, opts types.ServiceListOptions) ([]swarm.Service, error)
}

// resolveInstance returns the installation id to run as, refusing what
// would let the loops delete another installation's work or this one's:
//
//   - PAAS_INSTANCE_ID differs from the id the database recorded: the loops
//     would serve one installation's services from another's database;
//   - the database has no id yet (empty, or restored from before the first
//     start) while Swarm runs services of PAAS_INSTANCE_ID: every one of
//     them would look like an orphan. adopt (serve --adopt-instance) records
//     the id anyway, for an operator who means it.
//
// Without PAAS_INSTANCE_ID the database's id is used, created on first start.
func resolveInstance(ctx context.Context, db instanceStore, docker serviceLister, configured string, adopt bool) (string, error) {
	if configured == "" {
		return db.InstallationID(ctx)
	}
	stored, err := db.GetSetting(ctx, installationKey)
	switch {
	case err == nil && stored.Value != nil && *stored.Value != configured:
		return "", fmt.Errorf("refusing to start: PAAS_INSTANCE_ID is %q but this database belongs to installation %q; "+
			"point DATABASE_URL at the database of %q, or unset PAAS_INSTANCE_ID", configured, *stored.Value, configured)
	case err == nil && stored.Value != nil:
		return configured, nil
	case err != nil && !store.IsNotFound(err):
		return "", fmt.Errorf("read installation id: %w", err)
	}
	if !adopt {
		list, err := docker.ServiceList(ctx, types.ServiceListOptions{Filters: paasswarm.InstanceFilter(configured)})
		if err != nil {
			return "", fmt.Errorf("list services of installation %s: %w", configured, err)
		}
		if len(list) > 0 {
			return "", fmt.Errorf("refusing to start: this database has no installation id, but Swarm runs %d services of installation %q "+
				"(%s, ...); an empty or restored database would remove them all as orphans. Point DATABASE_URL at that "+
				"installation's database, or run `paasd serve --adopt-instance` to take them over", len(list), configured, list[0].Spec.Name)
		}
	}
	got, err := db.InsertSettingIfAbsent(ctx, store.InsertSettingIfAbsentParams{Key: installationKey, Value: &configured})
	if err != nil {
		return "", fmt.Errorf("record installation id: %w", err)
	}
	if got == nil || *got != configured {
		return "", fmt.Errorf("refusing to start: another replica recorded a different installation id at the same time")
	}
	return configured, nil
}
