package controllers

import (
	"cmp"
	"context"
	"fmt"
	"net"
	"time"

	"github.com/docker/docker/api/types/events"
	"github.com/google/uuid"
	"github.com/rs/zerolog"

	"github.com/skypanel/paas/controllers/app"
	"github.com/skypanel/paas/controllers/billing"
	"github.com/skypanel/paas/controllers/build"
	"github.com/skypanel/paas/controllers/domain"
	"github.com/skypanel/paas/controllers/network"
	"github.com/skypanel/paas/controllers/node"
	"github.com/skypanel/paas/controllers/route"
	"github.com/skypanel/paas/controllers/runtime"
	"github.com/skypanel/paas/controllers/scale"
	"github.com/skypanel/paas/controllers/servicespec"
	"github.com/skypanel/paas/store"
	storebilling "github.com/skypanel/paas/store/billing"
	"github.com/skypanel/paas/store/key"
)

// ChannelDesired is the Postgres channel on which triggers announce
// desired-state changes; each payload is a key.
const ChannelDesired = "paas_desired"

// ChannelRoutes is the Postgres channel on which triggers announce changes
// that only move routes (a domain's status, the default domain); each
// payload is an app key.
const ChannelRoutes = "paas_routes"

// ChannelBuilds is the Postgres channel on which a trigger announces a
// build queued or ended (schema 00017); it wakes the build runner.
const ChannelBuilds = "paas_builds"

// kindHousekeeping names the housekeeping loop's single key.
const kindHousekeeping key.Kind = "housekeeping"

// kindBuildCache names the build cache loop's single key.
const kindBuildCache key.Kind = "buildcache"

// builtinLoops declares the platform's own loops.
func (m *Manager) builtinLoops() []Loop {
	appWakes := Wakes{
		Notify:       []Notify{{Channel: ChannelDesired, Prefix: string(key.KindApp) + "/"}},
		DockerEvents: []events.Type{ServiceEvents},
		Resync:       appKeys,
	}
	appLoopWakes := appWakes
	appLoopWakes.Resync = m.appKeysJudgingOrphans
	prune := key.New(kindHousekeeping, "prune")
	return append([]Loop{
		{
			Name: app.Name, Kind: key.KindApp, Wakes: appLoopWakes, Owns: app.Owns,
			New: func(s Shared) runtime.Reconciler {
				return &app.Reconciler{
					Store: m.Store, Docker: m.Docker, Writer: s.Writer, Ownership: s.Ownership, Services: s.Services,
					Box: m.fingerprintBox, InstanceID: m.InstanceID, UpdateMonitor: m.UpdateMonitor,
					RolloutDeadline: m.RolloutDeadline, PollInterval: m.PollInterval, Now: m.Now, Metrics: m.appMetrics,
					Orphans: m.orphans, Sandbox: *cmp.Or(m.Sandbox, &servicespec.DefaultSandbox),
				}
			},
		},
		{
			Name: scale.Name, Kind: key.KindApp, Wakes: appWakes, Owns: scale.Owns,
			New: func(s Shared) runtime.Reconciler {
				return &scale.Reconciler{Store: m.Store, Writer: s.Writer, Now: m.Now}
			},
		},
		{
			Name: route.Name, Kind: key.KindApp, Owns: route.Owns,
			Wakes: Wakes{
				Notify: []Notify{
					{Channel: ChannelDesired, Prefix: string(key.KindApp) + "/"},
					{Channel: ChannelRoutes, Prefix: string(key.KindApp) + "/"},
				},
				DockerEvents: []events.Type{ServiceEvents},
				Resync:       appKeys,
			},
			New: func(s Shared) runtime.Reconciler {
				return &route.Reconciler{Store: m.Store, Writer: s.Writer, InstanceID: m.InstanceID, CertResolver: m.CertResolver, Now: m.Now}
			},
		},
		{
			Name: domain.Name, Kind: key.KindDomain,
			Wakes: Wakes{
				Notify: []Notify{{Channel: ChannelDesired, Prefix: string(key.KindDomain) + "/"}},
				Resync: m.domainKeys,
			},
			New: func(Shared) runtime.Reconciler {
				var resolver domain.Resolver = net.DefaultResolver
				if m.Resolver != nil {
					resolver = m.Resolver
				}
				return &domain.Reconciler{Store: m.Store, Resolver: resolver, Recheck: m.DomainRecheck, Now: m.Now}
			},
		},
		{
			Name: network.Name, Kind: key.KindOrg,
			Wakes: Wakes{
				Notify:       []Notify{{Channel: ChannelDesired, Prefix: string(key.KindOrg) + "/"}},
				DockerEvents: []events.Type{NetworkEvents},
				Resync:       m.orgKeys,
			},
			New: func(s Shared) runtime.Reconciler {
				return &network.Reconciler{Store: m.Store, Docker: m.Docker, Networks: s.Networks, InstanceID: m.InstanceID, Now: m.Now}
			},
		},
		m.nodeLoop(),
		{
			// Housekeeping forgets what no longer counts: at the start of
			// each term, at each resync and a few times per tombstone
			// retention (every second to every hour).
			Name: "housekeeping", Kind: kindHousekeeping, Workers: 1,
			Wakes: Wakes{
				Cron:   []Cron{{Schedule: "@every " + min(max(m.TombstoneRetention/4, time.Second), time.Hour).String(), Key: prune}},
				Resync: func(context.Context, Shared) ([]key.Key, error) { return []key.Key{prune}, nil },
			},
			New: func(Shared) runtime.Reconciler { return runtime.ReconcilerFunc(m.housekeeping) },
		},
		m.buildCacheLoop(),
	}, m.billingLoops()...)
}

// buildCacheLoop prunes the leader's build cache every 6 hours
// (build.Pruner.Sweep: the settings' TTL and size bound). It has no
// resync: a new term does not prune at once. A cache problem is logged,
// never retried as an error: nothing depends on it.
func (m *Manager) buildCacheLoop() Loop {
	sweep := key.New(kindBuildCache, "sweep")
	return Loop{
		Name: "buildcache", Kind: kindBuildCache, Workers: 1,
		Wakes: Wakes{Cron: []Cron{{Schedule: build.CacheSchedule, Key: sweep}}},
		New: func(Shared) runtime.Reconciler {
			p := &build.Pruner{Store: m.Store, Docker: m.Docker, Registry: m.Builds.Registry, Now: m.Now}
			return runtime.ReconcilerFunc(func(ctx context.Context, _ key.Key) (runtime.Result, error) {
				log := zerolog.Ctx(ctx)
				rep, err := p.Sweep(ctx)
				if err != nil {
					log.Warn().Err(err).Msg("build cache sweep failed (builds are not affected)")
				}
				rep.Log(log, "build cache sweep")
				return runtime.Result{}, nil
			})
		},
	}
}

// billingLoops are the billing loops (controllers/billing): the meter
// (what each app really runs, and its Suspended condition), the wallet
// loop (suspension for insufficient funds, restore, notifications) and the
// hourly sweep.
func (m *Manager) billingLoops() []Loop {
	schedule := cmp.Or(m.BillingSchedule, storebilling.DefaultSchedule)
	if _, err := cronParser.Parse(schedule); err != nil {
		// A bad setting must not keep every loop from running.
		schedule = storebilling.DefaultSchedule
	}
	return []Loop{
		{
			Name: billing.MeterName, Kind: key.KindApp,
			Wakes: Wakes{
				Notify:       []Notify{{Channel: ChannelDesired, Prefix: string(key.KindApp) + "/"}},
				DockerEvents: []events.Type{ServiceEvents, TaskEvents},
				Resync:       appKeys,
			},
			New: func(s Shared) runtime.Reconciler {
				return &billing.Meter{Store: m.Store, Services: s.Services, Now: m.Now}
			},
		},
		{
			Name: billing.WalletName, Kind: key.KindOrg,
			Wakes: Wakes{
				Notify: []Notify{{Channel: storebilling.ChannelBilling, Prefix: string(key.KindOrg) + "/"}},
				Resync: m.billingOrgKeys,
			},
			New: func(Shared) runtime.Reconciler { return &billing.Wallet{Store: m.Store, Now: m.Now} },
		},
		{
			Name: billing.SweepName, Kind: billing.KindBilling, Workers: 1,
			Wakes: Wakes{
				Cron:   []Cron{{Schedule: schedule, Key: billing.SweepKey}},
				Resync: func(context.Context, Shared) ([]key.Key, error) { return []key.Key{billing.SweepKey}, nil },
			},
			New: func(Shared) runtime.Reconciler {
				return &billing.Sweeper{Store: m.Store, Now: m.Now, Metrics: m.sweepMetrics}
			},
		},
	}
}

// billingOrgKeys lists every organization for the wallet loop.
func (m *Manager) billingOrgKeys(ctx context.Context, _ Shared) ([]key.Key, error) {
	ids, err := m.Store.ListOrganizationIDs(ctx)
	if err != nil {
		return nil, fmt.Errorf("list organizations: %w", err)
	}
	keys := make([]key.Key, len(ids))
	for i, id := range ids {
		keys[i] = key.New(key.KindOrg, id.String())
	}
	return keys, nil
}

// appKeysJudgingOrphans is appKeys for the app loop, which also decides
// whether this pass's orphans may be removed (app.OrphanPolicy).
func (m *Manager) appKeysJudgingOrphans(ctx context.Context, s Shared) ([]key.Key, error) {
	ids, err := s.Store.ListAppIDs(ctx)
	if err != nil {
		return nil, fmt.Errorf("list apps: %w", err)
	}
	rows := make(map[uuid.UUID]bool, len(ids))
	for _, id := range ids {
		rows[id] = true
	}
	services := s.Services.AppIDs()
	orphans := 0
	for _, svc := range services {
		if id, err := uuid.Parse(svc); err == nil && !rows[id] {
			orphans++
		}
	}
	policy := app.OrphanPolicy{MaxShare: m.MaxOrphanShare, Force: m.AllowMassOrphanRemoval}
	if m.orphans.Judge(policy, orphans, len(services)) {
		m.orphansHeld.Set(0)
	} else {
		m.orphansHeld.Set(float64(orphans))
		_, why := m.orphans.Open()
		zerolog.Ctx(ctx).Error().Int("orphans", orphans).Int("services", len(services)).Msg("not removing services without an app: " + why)
	}
	return keysOf(ids, services), nil
}

// appKeys lists every app to reconcile: those with a row (deleted or not)
// and those with a service but no row, which the app loop removes as
// orphans.
func appKeys(ctx context.Context, s Shared) ([]key.Key, error) {
	ids, err := s.Store.ListAppIDs(ctx)
	if err != nil {
		return nil, fmt.Errorf("list apps: %w", err)
	}
	return keysOf(ids, s.Services.AppIDs()), nil
}

// keysOf returns the keys of apps with a row and of apps with a service.
func keysOf(rows []uuid.UUID, services []string) []key.Key {
	keys := make([]key.Key, 0, len(rows)+len(services))
	for _, id := range rows {
		keys = append(keys, key.App(id))
	}
	for _, svc := range services {
		if id, err := uuid.Parse(svc); err == nil {
			keys = append(keys, key.App(id))
		}
	}
	return keys
}

// domainKeys lists every custom domain; each one's reconcile asks to be
// woken again when its next check is due.
func (m *Manager) domainKeys(ctx context.Context, _ Shared) ([]key.Key, error) {
	ids, err := m.Store.ListDomainIDs(ctx)
	if err != nil {
		return nil, fmt.Errorf("list domains: %w", err)
	}
	keys := make([]key.Key, len(ids))
	for i, id := range ids {
		keys[i] = key.New(key.KindDomain, id.String())
	}
	return keys, nil
}

// orgKeys lists every organization, and those that only a network of this
// installation still names, whose network the loop removes. It refreshes
// the network cache on the way: one NetworkList per resync.
func (m *Manager) orgKeys(ctx context.Context, s Shared) ([]key.Key, error) {
	ids, err := m.Store.ListOrganizationIDs(ctx)
	if err != nil {
		return nil, fmt.Errorf("list organizations: %w", err)
	}
	withNetwork, err := s.Networks.Resync(ctx)
	if err != nil {
		return nil, err // reconciling from a stale cache could recreate networks for nothing
	}
	keys := make([]key.Key, 0, len(ids))
	seen := make(map[uuid.UUID]bool, len(ids))
	for _, id := range append(ids, withNetwork...) {
		if !seen[id] {
			keys, seen[id] = append(keys, key.New(key.KindOrg, id.String())), true
		}
	}
	return keys, nil
}

// Retention settings (paas_settings) and their defaults.
var retention = []struct {
	key   string
	def   int64
	prune func(ctx context.Context, s *store.Store, n int64, now time.Time) (int64, error)
}{
	{"retention_events_days", 30, func(ctx context.Context, s *store.Store, n int64, now time.Time) (int64, error) {
		return s.PruneEvents(ctx, now.AddDate(0, 0, -int(n)))
	}},
	{"retention_audit_days", 365, func(ctx context.Context, s *store.Store, n int64, now time.Time) (int64, error) {
		return s.PruneAudit(ctx, now.AddDate(0, 0, -int(n)))
	}},
	{"retention_releases_per_app", 50, func(ctx context.Context, s *store.Store, n int64, _ time.Time) (int64, error) {
		return s.PruneReleases(ctx, int32(min(n, 1<<30)))
	}},
	{"retention_release_logs_days", 30, func(ctx context.Context, s *store.Store, n int64, now time.Time) (int64, error) {
		return s.PruneReleaseLogs(ctx, now.AddDate(0, 0, -int(n)))
	}},
}

// alertDeliveryRetention is how long a delivered node alert webhook is kept.
const alertDeliveryRetention = 7 * 24 * time.Hour

// housekeeping prunes tombstones past their retention, the API's login
// attempts and deployment requests past their windows (the API prunes
// those only for the keys and organizations it sees again), node alert
// webhooks delivered over 7 days ago (pending and given-up ones stay), and events,
// audit rows, old releases and rollout logs past the retention settings
// (0 keeps them for ever; an app's current release is always kept).
func (m *Manager) housekeeping(ctx context.Context, _ key.Key) (runtime.Result, error) {
	log := zerolog.Ctx(ctx)
	now := m.Now()
	pruned := zerolog.Dict()
	total := int64(0)
	count := func(what string, n int64, err error) error {
		if err != nil {
			return fmt.Errorf("prune %s: %w", what, err)
		}
		pruned.Int64(what, n)
		total += n
		return nil
	}
	tombs, err := m.Store.PruneTombstones(ctx, now.Add(-m.TombstoneRetention))
	if err := count("tombstones", tombs, err); err != nil {
		return runtime.Result{}, err
	}
	logins, err := m.Store.PruneLoginAttempts(ctx, now.Add(-time.Minute))
	if err := count("login_attempts", logins, err); err != nil {
		return runtime.Result{}, err
	}
	deploys, err := m.Store.PruneDeployRequests(ctx, now.Add(-time.Hour))
	if err := count("deploy_requests", deploys, err); err != nil {
		return runtime.Result{}, err
	}
	hooks, err := m.Store.PruneAlertDeliveries(ctx, now.Add(-alertDeliveryRetention))
	if err := count("alert_deliveries", hooks, err); err != nil {
		return runtime.Result{}, err
	}
	for _, r := range retention {
		def := r.def
		if r.key == "retention_release_logs_days" && m.LogRetentionDays > 0 {
			def = int64(m.LogRetentionDays) // LOKI_RETENTION_DAYS: logs kept as long as Loki keeps them
		}
		n, err := store.IntSetting(ctx, m.Store, r.key, def)
		if err != nil {
			return runtime.Result{}, fmt.Errorf("read %s: %w", r.key, err)
		}
		if n == 0 {
			continue // kept for ever
		}
		done, err := r.prune(ctx, m.Store, n, now)
		if err := count(r.key, done, err); err != nil {
			return runtime.Result{}, err
		}
	}
	if total > 0 {
		log.Info().Dict("pruned", pruned).Dur("tombstone_retention", m.TombstoneRetention).Msg("housekeeping: pruned")
	}
	return runtime.Result{}, nil
}

// nodeLoop keeps Swarm's nodes and paas_worker_nodes in step: registration
// and approval, the availability admins declared, removal, and each node's
// resources and health with their alerts (controllers/node). Each node's
// reconcile asks to be woken at its next health or resource check.
func (m *Manager) nodeLoop() Loop {
	nodes := &node.Reconciler{Store: m.Store, Docker: m.Docker, Box: m.Box, InstanceID: m.InstanceID, Now: m.Now}
	return Loop{
		Name: node.Name, Kind: key.KindNode, Workers: 2,
		Wakes: Wakes{
			Notify:       []Notify{{Channel: ChannelDesired, Prefix: string(key.KindNode) + "/"}},
			DockerEvents: []events.Type{NodeEvents},
			Resync:       func(ctx context.Context, _ Shared) ([]key.Key, error) { return nodes.Keys(ctx) },
		},
		New: func(Shared) runtime.Reconciler { return nodes },
	}
}
