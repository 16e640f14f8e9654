// Package controllers wires the reconcile runtime to the reconcilers: on the
// elected leader it fills the observed-state cache, starts the sources that
// enqueue app keys (Postgres notifications, Docker events, periodic resync)
// and runs the app and scale loops until leadership ends.
package controllers

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/client"
	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"golang.org/x/sync/errgroup"

	"github.com/skypanel/paas/controllers/app"
	"github.com/skypanel/paas/controllers/observed"
	"github.com/skypanel/paas/controllers/runtime"
	"github.com/skypanel/paas/controllers/scale"
	"github.com/skypanel/paas/store"
	"github.com/skypanel/paas/store/pgnotify"
	"github.com/skypanel/paas/store/secret"
)

// Manager runs the reconcilers on the leader; configure it by fields, then Run.
type Manager struct {
	// Store is the database pool used by the reconcilers.
	Store *store.Store
	// DatabaseURL opens the dedicated connections that LISTEN and hold the
	// leader lock (session state cannot live on a pooled connection).
	DatabaseURL string
	// Docker is the engine client.
	Docker *client.Client
	// Box opens sealed env values.
	Box *secret.Box
	// InstanceID scopes every Swarm object the loops may touch.
	InstanceID string
	// PublicNetwork is the overlay network apps join, by name.
	PublicNetwork string
	// ResyncInterval is the period of full resyncs.
	ResyncInterval time.Duration
	// RolloutDeadline bounds one rollout.
	RolloutDeadline time.Duration
	// UpdateMonitor is Swarm's update monitor window.
	UpdateMonitor time.Duration
	// PollInterval is how often a moving app is looked at again (default 1s).
	PollInterval time.Duration
	// Workers is the number of workers per loop.
	Workers int
	// LeaderCheckInterval is how often the leader confirms its lock (default 2s).
	LeaderCheckInterval time.Duration
	// LeaderRetryInterval is how often a follower tries to take the lock (default 2s).
	LeaderRetryInterval time.Duration
	// TombstoneRetention is how long a deleted app's tombstone is kept for
	// watches resuming after its deletion (default 24h); a watch resuming
	// from further back starts over.
	TombstoneRetention time.Duration
	// Registerer receives the loops' metrics; nil registers nowhere.
	Registerer prometheus.Registerer
	// Now reads the clock (default time.Now).
	Now func() time.Time

	once        sync.Once
	runMetrics  *runtime.Metrics
	appMetrics  *app.Metrics
	elector     *runtime.Elector
	resyncCount prometheus.Counter
	resyncs     atomic.Int64
}

func (m *Manager) init() {
	m.once.Do(func() {
		m.runMetrics = runtime.NewMetrics()
		m.appMetrics = app.NewMetrics()
		m.resyncCount = prometheus.NewCounter(prometheus.CounterOpts{Name: "paas_resyncs_total", Help: "Full resyncs against Swarm."})
		if m.Registerer != nil {
			m.runMetrics.MustRegister(m.Registerer)
			m.appMetrics.MustRegister(m.Registerer)
			m.Registerer.MustRegister(m.resyncCount)
		}
		if m.Now == nil {
			m.Now = time.Now
		}
		if m.PollInterval == 0 {
			m.PollInterval = time.Second
		}
		if m.Workers == 0 {
			m.Workers = 4
		}
		if m.TombstoneRetention <= 0 {
			m.TombstoneRetention = 24 * time.Hour
		}
		m.elector = &runtime.Elector{
			Connect:       m.connect("paasd-leader"),
			LockID:        lockID(m.InstanceID),
			RetryInterval: orDefault(m.LeaderRetryInterval, 2*time.Second),
			CheckInterval: orDefault(m.LeaderCheckInterval, 2*time.Second),
			CheckTimeout:  time.Second,
			Metrics:       m.runMetrics,
		}
	})
}

// Run campaigns for leadership and, while leader, runs the loops; it
// returns when ctx ends.
func (m *Manager) Run(ctx context.Context) error {
	m.init()
	if m.Store == nil || m.Docker == nil || m.Box == nil || m.InstanceID == "" || m.DatabaseURL == "" {
		return errors.New("controllers: Store, Docker, Box, InstanceID and DatabaseURL are required")
	}
	return m.elector.Run(ctx, func(ctx context.Context) {
		if err := m.lead(ctx); err != nil && ctx.Err() == nil {
			zerolog.Ctx(ctx).Error().Err(err).Msg("reconcilers stopped")
		}
	})
}

// lead runs one leadership term.
func (m *Manager) lead(ctx context.Context) error {
	log := zerolog.Ctx(ctx).With().Str("instance", m.InstanceID).Logger()
	ctx = log.WithContext(ctx)

	netID, err := m.networkID(ctx)
	if err != nil {
		return err
	}
	services := &observed.Services{Client: m.Docker, InstanceID: m.InstanceID}
	// Fill the cache before any reconcile runs, so none of them mistakes an
	// empty cache for missing services.
	for {
		if _, err := services.Resync(ctx); err == nil {
			break
		} else if ctx.Err() != nil {
			return nil
		} else {
			log.Warn().Err(err).Msg("initial service list failed; retrying")
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(time.Second):
		}
	}

	appLoop := &runtime.Controller{Name: "app", Workers: m.Workers, Metrics: m.runMetrics, Reconciler: &app.Reconciler{
		Store: m.Store, Docker: m.Docker, Services: services, Box: m.Box, InstanceID: m.InstanceID,
		Networks: []string{netID}, UpdateMonitor: m.UpdateMonitor, RolloutDeadline: m.RolloutDeadline,
		PollInterval: m.PollInterval, Now: m.Now, Metrics: m.appMetrics,
	}}
	scaleLoop := &runtime.Controller{Name: "scale", Workers: m.Workers, Metrics: m.runMetrics, Reconciler: &scale.Reconciler{
		Store: m.Store, Docker: m.Docker, Services: services, Now: m.Now,
		DriftCorrections: m.appMetrics.DriftCorrections,
	}}
	enqueue := func(appID string) {
		appLoop.Enqueue(app.Key(appID))
		scaleLoop.Enqueue(app.Key(appID))
	}

	resync := &runtime.Resync{Interval: m.ResyncInterval, Do: func(ctx context.Context) {
		observedIDs, err := services.Resync(ctx)
		if err != nil {
			log.Warn().Err(err).Msg("resync: list services")
			return
		}
		desiredIDs, err := m.Store.ListAppIDs(ctx)
		if err != nil {
			log.Warn().Err(err).Msg("resync: list apps")
			return
		}
		m.resyncCount.Inc()
		m.resyncs.Add(1)
		// Services without an app row are enqueued too: the app loop
		// removes them as orphans.
		for _, id := range observedIDs {
			enqueue(id)
		}
		for _, id := range desiredIDs {
			enqueue(id.String())
		}
		log.Debug().Int("apps", len(desiredIDs)).Int("services", len(observedIDs)).Msg("resynced")
	}}
	listener := &pgnotify.Listener{
		Connect:  m.connect("paasd-listen"),
		Channels: []string{"paas_desired"},
		Handle: func(ctx context.Context, _, payload string) {
			id, err := app.ParseKey(payload)
			if err != nil {
				log.Warn().Str("payload", payload).Msg("ignoring malformed notification")
				return
			}
			enqueue(id.String())
		},
		OnConnect: func(context.Context) { resync.Trigger() },
	}
	dockerEvents := &runtime.DockerEvents{
		Client:  m.Docker,
		Filters: filters.NewArgs(filters.Arg("type", string(events.ServiceEventType))),
		Handle: func(ctx context.Context, msg events.Message) {
			appID, ok, err := services.Refresh(ctx, msg.Actor.ID)
			if err != nil {
				log.Warn().Err(err).Str("service", msg.Actor.ID).Msg("refresh after event")
				resync.Trigger()
				return
			}
			if ok {
				enqueue(appID)
			}
		},
		OnConnect: func(context.Context) { resync.Trigger() },
	}

	// poll re-lists services while any app is moving and wakes the apps
	// whose observation changed.
	poll := func(ctx context.Context) error {
		t := time.NewTicker(m.PollInterval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return nil
			case <-t.C:
			}
			changed, err := services.Poll(ctx)
			if err != nil {
				log.Warn().Err(err).Msg("poll services")
				continue
			}
			for _, id := range changed {
				enqueue(id)
			}
		}
	}

	// housekeeping forgets what no longer counts, at once and then a few
	// times per tombstone retention (every second to every hour):
	// tombstones past their retention, and the API's login attempts and
	// deployment requests past their windows (the API prunes those only
	// for the keys and organizations it sees again).
	housekeeping := &runtime.Resync{Interval: min(max(m.TombstoneRetention/4, time.Second), time.Hour), Do: func(ctx context.Context) {
		now := m.Now()
		tombs, err := m.Store.PruneTombstones(ctx, now.Add(-m.TombstoneRetention))
		if err != nil {
			log.Warn().Err(err).Msg("prune tombstones")
		}
		logins, err := m.Store.PruneLoginAttempts(ctx, now.Add(-time.Minute))
		if err != nil {
			log.Warn().Err(err).Msg("prune login attempts")
		}
		deploys, err := m.Store.PruneDeployRequests(ctx, now.Add(-time.Hour))
		if err != nil {
			log.Warn().Err(err).Msg("prune deployment requests")
		}
		if tombs+logins+deploys > 0 {
			log.Info().Int64("tombstones", tombs).Int64("login_attempts", logins).Int64("deploy_requests", deploys).
				Dur("tombstone_retention", m.TombstoneRetention).Msg("housekeeping: pruned")
		}
	}}
	housekeeping.Trigger()

	log.Info().Msg("leading: reconcilers started")
	g, gctx := errgroup.WithContext(ctx)
	for _, run := range []func(context.Context) error{appLoop.Run, scaleLoop.Run, resync.Run, listener.Run, dockerEvents.Run, poll, housekeeping.Run} {
		g.Go(func() error { return run(gctx) })
	}
	err = g.Wait()
	log.Info().Msg("reconcilers stopped")
	return err
}

// networkID resolves the public network's id, waiting for it to exist.
func (m *Manager) networkID(ctx context.Context) (string, error) {
	for {
		n, err := m.Docker.NetworkInspect(ctx, m.PublicNetwork, network.InspectOptions{})
		if err == nil {
			return n.ID, nil
		}
		zerolog.Ctx(ctx).Warn().Err(err).Str("network", m.PublicNetwork).Msg("public network unavailable (hack/docker-up.sh creates it); retrying")
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(2 * time.Second):
		}
	}
}

func (m *Manager) connect(appName string) func(ctx context.Context) (*pgx.Conn, error) {
	return func(ctx context.Context) (*pgx.Conn, error) {
		cfg, err := pgx.ParseConfig(m.DatabaseURL)
		if err != nil {
			return nil, fmt.Errorf("parse DATABASE_URL: %w", err)
		}
		cfg.RuntimeParams["application_name"] = appName
		return pgx.ConnectConfig(ctx, cfg)
	}
}

// lockID derives the leader lock key from the installation id, so two
// installations sharing a database would still elect one leader each.
func lockID(instanceID string) int64 {
	h := fnv.New64a()
	h.Write([]byte("paas-leader/" + instanceID))
	return int64(h.Sum64())
}

func orDefault(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

// Resyncs returns how many full resyncs have completed, for tests and benchmarks.
func (m *Manager) Resyncs() int {
	m.init()
	return int(m.resyncs.Load())
}

// DriftCorrections returns the drift counter, labelled by loop.
func (m *Manager) DriftCorrections() *prometheus.CounterVec {
	m.init()
	return m.appMetrics.DriftCorrections
}

// Rollouts returns the finished-rollout counter, labelled by outcome.
func (m *Manager) Rollouts() *prometheus.CounterVec {
	m.init()
	return m.appMetrics.Rollouts
}
