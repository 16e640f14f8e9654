// Package controllers wires the reconcile runtime to the reconcilers: on the
// elected leader it fills the observed-state cache, starts the sources that
// the registered loops declared (Postgres notifications, Docker events,
// cron schedules, periodic resync), routes each key to the loops of its
// kind, and runs the loops until leadership ends. The built-in loops (app,
// scale, housekeeping) are registered like any other (loops.go).
package controllers

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/client"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/robfig/cron/v3"
	"github.com/rs/zerolog"
	"golang.org/x/sync/errgroup"

	"github.com/skypanel/paas/controllers/app"
	"github.com/skypanel/paas/controllers/billing"
	"github.com/skypanel/paas/controllers/build"
	"github.com/skypanel/paas/controllers/domain"
	"github.com/skypanel/paas/controllers/network"
	"github.com/skypanel/paas/controllers/observed"
	"github.com/skypanel/paas/controllers/runtime"
	"github.com/skypanel/paas/controllers/servicespec"
	"github.com/skypanel/paas/controllers/servicewrite"
	"github.com/skypanel/paas/store"
	"github.com/skypanel/paas/store/key"
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
	// Box opens sealed env values (and, with previous keys, those sealed
	// before a key rotation).
	Box *secret.Box
	// InstanceID scopes every Swarm object the loops may touch.
	InstanceID string
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
	// LogRetentionDays (LOKI_RETENTION_DAYS), when positive, is how long
	// build and rollout logs are kept in Postgres unless the setting
	// retention_release_logs_days says otherwise (default 30 without it).
	LogRetentionDays int
	// Sandbox confines every app task; servicespec.DefaultSandbox if nil.
	Sandbox *servicespec.Sandbox
	// MaxOrphanShare is the largest share of this installation's services
	// the app loop removes as orphans (no app row) in one resync pass (0.25
	// if zero; three are always allowed). More looks like an empty or
	// restored database: nothing is removed, and the held-back count shows
	// in paas_orphans_held.
	MaxOrphanShare float64
	// AllowMassOrphanRemoval lifts MaxOrphanShare (serve --allow-mass-orphan-removal).
	AllowMassOrphanRemoval bool
	// Resolver looks up domains' proofs of ownership (the system's
	// resolver if nil; domain.NewResolver points one at a DNS server).
	Resolver domain.Resolver
	// DomainRecheck overrides the domain_recheck_minutes setting when positive.
	DomainRecheck time.Duration
	// CertResolver names Traefik's ACME resolver in the routes
	// (route.DefaultCertResolver if empty).
	CertResolver string
	// BillingSchedule is the robfig/cron schedule of the billing sweep
	// (setting billing_sweep_schedule; default the top of every hour).
	BillingSchedule string
	// Builds configures the build runner started on the leader (source
	// builds, controllers/build); its Store, Docker and Box default to the
	// Manager's.
	Builds build.Runner
	// Registerer receives the loops' metrics; nil registers nowhere.
	Registerer prometheus.Registerer
	// Now reads the clock (default time.Now).
	Now func() time.Time

	once         sync.Once
	extra        []Loop // registered by Register before Run
	runMetrics   *runtime.Metrics
	appMetrics   *app.Metrics
	sweepMetrics *billing.Metrics
	buildTimes   *prometheus.HistogramVec
	elector      *runtime.Elector
	resyncCount  prometheus.Counter
	resyncs      atomic.Int64
	orphansHeld  prometheus.Gauge
	// orphans is the current term's verdict on orphan removal; replaced,
	// closed, at the start of each term.
	orphans *app.OrphanGate
	// fingerprintBox is Box keyed by the installation's fingerprint key
	// (store.FingerprintBox), read at the start of each term.
	fingerprintBox *secret.Box
}

func (m *Manager) init() {
	m.once.Do(func() {
		m.runMetrics = runtime.NewMetrics()
		m.appMetrics = app.NewMetrics()
		m.sweepMetrics = billing.NewMetrics()
		m.buildTimes = build.NewDurations()
		m.resyncCount = prometheus.NewCounter(prometheus.CounterOpts{Name: "paas_resyncs_total", Help: "Full resyncs against Swarm."})
		m.orphansHeld = prometheus.NewGauge(prometheus.GaugeOpts{Name: "paas_orphans_held",
			Help: "Services without an app kept at the last resync because removing them all would exceed the orphan limit."})
		if m.Registerer != nil {
			m.runMetrics.MustRegister(m.Registerer)
			m.appMetrics.MustRegister(m.Registerer)
			m.sweepMetrics.MustRegister(m.Registerer)
			m.Registerer.MustRegister(m.buildTimes)
			m.Registerer.MustRegister(m.resyncCount, m.orphansHeld)
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
			RetryInterval: cmp.Or(m.LeaderRetryInterval, 2*time.Second),
			CheckInterval: cmp.Or(m.LeaderCheckInterval, 2*time.Second),
			CheckTimeout:  time.Second,
			Metrics:       m.runMetrics,
		}
	})
}

// Register adds loops to the built-in ones; call it before Run.
func (m *Manager) Register(loops ...Loop) {
	m.extra = append(m.extra, loops...)
}

// Run checks the registered loops, campaigns for leadership and, while
// leader, runs the loops; it returns when ctx ends, or at once with an
// error when the registration is inconsistent (two loops claiming one
// field, a bad cron schedule...).
func (m *Manager) Run(ctx context.Context) error {
	m.init()
	if m.Store == nil || m.Docker == nil || m.Box == nil || m.InstanceID == "" || m.DatabaseURL == "" {
		return errors.New("controllers: Store, Docker, Box, InstanceID and DatabaseURL are required")
	}
	loops := append(m.builtinLoops(), m.extra...)
	own, err := checkLoops(loops)
	if err != nil {
		return err
	}
	return m.elector.Run(ctx, func(ctx context.Context) {
		if err := m.lead(ctx, loops, own); err != nil && ctx.Err() == nil {
			zerolog.Ctx(ctx).Error().Err(err).Msg("reconcilers stopped")
		}
	})
}

// lead runs one leadership term.
func (m *Manager) lead(ctx context.Context, loops []Loop, own servicespec.Ownership) error {
	log := zerolog.Ctx(ctx).With().Str("instance", m.InstanceID).Logger()
	ctx = log.WithContext(ctx)

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

	// Release fingerprints are keyed by the installation's own key, which a
	// rotation of ENCRYPTION_KEY leaves alone.
	for {
		box, err := store.FingerprintBox(ctx, m.Store, m.Box)
		if err == nil {
			m.fingerprintBox = box
			break
		} else if ctx.Err() != nil {
			return nil
		} else {
			log.Warn().Err(err).Msg("reading the installation's fingerprint key failed; retrying")
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(time.Second):
		}
	}

	m.orphans = &app.OrphanGate{}
	shared := Shared{
		Store: m.Store, Services: services, Ownership: own,
		Networks: &network.Networks{Client: m.Docker, InstanceID: m.InstanceID,
			Traefik: &network.Traefik{Docker: m.Docker, InstanceID: m.InstanceID}},
		Writer: &servicewrite.Writer{
			Docker: m.Docker, Services: services, Ownership: own, Events: m.Store, Now: m.Now,
			DriftCorrections: m.appMetrics.DriftCorrections,
		},
	}
	rt := &router{}
	for _, l := range loops {
		rt.loops = append(rt.loops, routed{loop: l, controller: &runtime.Controller{
			Name: l.Name, Workers: cmp.Or(l.Workers, m.Workers), Metrics: m.runMetrics, Reconciler: l.New(shared),
		}})
	}

	resync := &runtime.Resync{Interval: m.ResyncInterval, Do: func(ctx context.Context) {
		if _, err := services.Resync(ctx); err != nil {
			log.Warn().Err(err).Msg("resync: list services")
			return
		}
		m.resyncCount.Inc()
		m.resyncs.Add(1)
		for _, l := range rt.loops {
			if l.loop.Wakes.Resync == nil {
				continue
			}
			keys, err := l.loop.Wakes.Resync(ctx, shared)
			if err != nil {
				log.Warn().Err(err).Str("controller", l.loop.Name).Msg("resync: list keys")
				continue
			}
			for _, k := range keys {
				l.controller.Enqueue(k)
			}
		}
	}}
	builds := m.Builds // a copy per term
	builds.Store, builds.Docker = cmp.Or(builds.Store, m.Store), cmp.Or(builds.Docker, m.Docker)
	builds.Box = cmp.Or(builds.Box, m.Box) // opens the organizations' git credentials
	if builds.Durations == nil {
		builds.Durations = m.buildTimes
	}
	if builds.Wake == nil {
		builds.Wake = make(chan struct{}, 1)
	}
	builds.Init() // before the listener may call builds.Cancel
	runs := []func(context.Context) error{resync.Run, builds.Run}
	for _, l := range rt.loops {
		runs = append(runs, l.controller.Run)
	}

	wakeBuilds := func() {
		select { // one pending wake is enough: the runner claims all it can
		case builds.Wake <- struct{}{}:
		default:
		}
	}
	listener := &pgnotify.Listener{
		Connect:  m.connect("paasd-listen"),
		Channels: append(rt.channels(), ChannelBuilds),
		Handle: func(ctx context.Context, channel, payload string) {
			if channel == ChannelBuilds {
				if id, ok := strings.CutPrefix(payload, "cancel/"); ok {
					if u, err := uuid.Parse(id); err == nil {
						builds.Cancel(u)
					}
					return
				}
				wakeBuilds()
				return
			}
			if _, _, err := rt.notified(channel, payload); err != nil {
				log.Warn().Str("channel", channel).Str("payload", payload).Err(err).Msg("ignoring malformed notification")
			}
		},
		// Whatever was announced while no connection listened is found
		// by a resync and a claim.
		OnConnect: func(context.Context) { resync.Trigger(); wakeBuilds() },
	}
	runs = append(runs, listener.Run)
	if types := rt.eventTypes(); len(types) > 0 {
		f := filters.NewArgs()
		for _, t := range types {
			f.Add("type", string(t))
		}
		dockerEvents := &runtime.DockerEvents{
			Client:    m.Docker,
			Filters:   f,
			Handle:    func(ctx context.Context, msg events.Message) { m.routeEvent(ctx, rt, shared, resync, msg) },
			OnConnect: func(context.Context) { resync.Trigger() },
		}
		runs = append(runs, dockerEvents.Run)
	}
	if slices.Contains(rt.eventTypes(), ServiceEvents) {
		runs = append(runs, func(ctx context.Context) error { return m.poll(ctx, rt, services) })
	}
	if c, err := m.cron(rt); err != nil {
		return err
	} else if c != nil {
		runs = append(runs, func(ctx context.Context) error {
			c.Start()
			<-ctx.Done()
			<-c.Stop().Done()
			return nil
		})
	}

	log.Info().Int("loops", len(rt.loops)).Msg("leading: reconcilers started")
	g, gctx := errgroup.WithContext(ctx)
	for _, run := range runs {
		g.Go(func() error { return run(gctx) })
	}
	err := g.Wait()
	log.Info().Msg("reconcilers stopped")
	return err
}

// routeEvent turns a Docker event into a key and routes it.
func (m *Manager) routeEvent(ctx context.Context, rt *router, s Shared, resync *runtime.Resync, msg events.Message) {
	log := zerolog.Ctx(ctx)
	services := s.Services
	switch msg.Type {
	case ServiceEvents:
		appID, ok, err := services.Refresh(ctx, msg.Actor.ID)
		if err != nil {
			log.Warn().Err(err).Str("service", msg.Actor.ID).Msg("refresh after event")
			resync.Trigger()
			return
		}
		if ok {
			routeApp(rt, ServiceEvents, appID)
		}
	case NodeEvents:
		if k, err := key.Parse(string(key.KindNode) + "/" + msg.Actor.ID); err == nil {
			rt.event(NodeEvents, k)
		}
	case NetworkEvents:
		if msg.Action != events.ActionCreate && msg.Action != events.ActionDestroy && msg.Action != events.ActionRemove {
			return // connects and disconnects of tasks change nothing the network loop owns
		}
		if org, ok := network.OrgOfNetwork(m.InstanceID, msg.Actor.Attributes["name"]); ok {
			if _, err := s.Networks.Refresh(ctx, org); err != nil {
				log.Warn().Err(err).Str("network", msg.Actor.Attributes["name"]).Msg("refresh after event")
				resync.Trigger()
				return
			}
			rt.event(NetworkEvents, key.New(key.KindOrg, org.String()))
		}
	case TaskEvents:
		if strings.HasPrefix(string(msg.Action), "exec_") {
			return // a health check's own exec: three per probe, no task changed
		}
		// Task state raises no service event: watch the service, so the
		// poller's next list (one call for every moving app) sees the
		// change, and wake the app now.
		if appID, ok := services.AppOf(msg.Actor.Attributes["com.docker.swarm.service.id"]); ok {
			services.Watch(appID)
			routeApp(rt, TaskEvents, appID)
		}
	}
}

// routeApp routes the key of an app id read from Swarm.
func routeApp(rt *router, t events.Type, appID string) {
	if id, err := uuid.Parse(appID); err == nil {
		rt.event(t, key.App(id))
	}
}

// poll re-lists services while any app is moving and routes the apps whose
// observation changed as service events.
func (m *Manager) poll(ctx context.Context, rt *router, services *observed.Services) error {
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
			zerolog.Ctx(ctx).Warn().Err(err).Msg("poll services")
			continue
		}
		for _, id := range changed {
			routeApp(rt, ServiceEvents, id)
		}
	}
}

// cronParser reads the schedules loops declare: five fields or a descriptor.
var cronParser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// cron schedules every loop's cron keys; nil when no loop declared any.
func (m *Manager) cron(rt *router) (*cron.Cron, error) {
	var c *cron.Cron
	for _, l := range rt.loops {
		for _, s := range l.loop.Wakes.Cron {
			if c == nil {
				c = cron.New(cron.WithParser(cronParser), cron.WithLocation(time.UTC))
			}
			ctrl, k := l.controller, s.Key
			if _, err := c.AddFunc(s.Schedule, func() { ctrl.Enqueue(k) }); err != nil {
				return nil, fmt.Errorf("loop %s: cron %q: %w", l.loop.Name, s.Schedule, err)
			}
		}
	}
	return c, nil
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

// OrphansHeld returns the paas_orphans_held gauge.
func (m *Manager) OrphansHeld() prometheus.Gauge {
	m.init()
	return m.orphansHeld
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
