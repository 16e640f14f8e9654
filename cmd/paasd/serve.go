package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/robfig/cron/v3"
	"github.com/rs/zerolog"
	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"

	"github.com/skypanel/paas/api"
	v1 "github.com/skypanel/paas/api/v1"
	"github.com/skypanel/paas/cmd/paasd/internal/config"
	"github.com/skypanel/paas/controllers"
	"github.com/skypanel/paas/controllers/build"
	"github.com/skypanel/paas/controllers/domain"
	"github.com/skypanel/paas/controllers/servicespec"
	paasswarm "github.com/skypanel/paas/controllers/swarm"
	"github.com/skypanel/paas/store"
	"github.com/skypanel/paas/store/billing"
	"github.com/skypanel/paas/store/secret"
)

func newServeCmd() *cobra.Command {
	var adopt, massOrphans bool
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Serve the API and, when elected leader, run the reconcilers",
		Long: "serve answers HTTP on PAAS_LISTEN (GET /healthz, GET /readyz, GET /metrics and the API)\n" +
			"and stops gracefully on SIGINT or SIGTERM.",
		Example: `  paasd serve                       # configuration from the environment
  PAAS_LISTEN=127.0.0.1:9090 paasd serve`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := config.Load(os.Getenv, config.ForServe)
			if err != nil {
				return err
			}
			log := newLogger(os.Stderr, cfg.LogLevel).With().Str("component", "paasd").Logger()
			cfg.AllowMassOrphanRemoval = massOrphans
			return serve(log.WithContext(cmd.Context()), cfg, adopt)
		},
	}
	cmd.Flags().BoolVar(&adopt, "adopt-instance", false,
		"take over the services of PAAS_INSTANCE_ID although this database has no installation id yet (after a deliberate database move)")
	cmd.Flags().BoolVar(&massOrphans, "allow-mass-orphan-removal", false,
		"remove every service of this installation that has no app, even more than PAAS_MAX_ORPHAN_SHARE of them")
	return cmd
}

func serve(ctx context.Context, cfg config.Config, adopt bool) error {
	log := zerolog.Ctx(ctx)
	started := time.Now()
	s, err := store.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	defer s.Close()
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	docker, err := paasswarm.NewInstrumentedClient(reg)
	if err != nil {
		return err
	}
	defer docker.Close()
	box, err := secret.NewBox(cfg.EncryptionKey, cfg.EncryptionKeyPrevious...)
	if err != nil {
		return err
	}
	instance, err := resolveInstance(ctx, s, docker, cfg.InstanceID, adopt)
	if err != nil {
		return err
	}
	// The billing sweep's schedule is read at start (a change needs a restart).
	billingSchedule, err := store.StringSetting(ctx, s, billing.SettingSchedule)
	if err != nil {
		return err
	}
	if _, err := cron.ParseStandard(billingSchedule); billingSchedule != "" && err != nil {
		log.Error().Err(err).Str("setting", billing.SettingSchedule).Str("value", billingSchedule).
			Msg("not a cron schedule; the billing sweep runs at the top of every hour instead")
	}

	manager := &controllers.Manager{
		Store: s, DatabaseURL: cfg.DatabaseURL, Docker: docker, Box: box, InstanceID: instance,
		ResyncInterval: cfg.ResyncInterval, RolloutDeadline: cfg.RolloutDeadline,
		UpdateMonitor: cfg.UpdateMonitor, PollInterval: cfg.PollInterval, Workers: cfg.Workers,
		Builds:              build.Runner{Lease: cfg.BuildLease},
		LeaderCheckInterval: cfg.LeaderCheckInterval, LeaderRetryInterval: cfg.LeaderRetryInterval,
		MaxOrphanShare: cfg.MaxOrphanShare, LogRetentionDays: cfg.LokiRetentionDays, AllowMassOrphanRemoval: cfg.AllowMassOrphanRemoval,
		Resolver: domain.NewResolver(cfg.DNSResolver),
		Sandbox: &servicespec.Sandbox{
			PidsLimit: int64(cfg.TaskPidsLimit), CapDrop: servicespec.DefaultSandbox.CapDrop,
			LogMaxSize: cfg.TaskLogMaxSize, LogMaxFiles: cfg.TaskLogMaxFiles,
		},
		Registerer: reg, BillingSchedule: billingSchedule,
	}

	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen on PAAS_LISTEN %s: %w", cfg.Listen, err)
	}
	log.Info().Str("listen", ln.Addr().String()).Str("version", version).Str("instance", instance).Msg("serving")

	apiV1 := v1.New(v1.Deps{
		Store: s, Box: box, JWTSecret: []byte(cfg.JWTSecret), Docker: docker, Logger: *log,
		BuildCache:     &build.Pruner{Store: s, Docker: docker},
		TrustedProxies: cfg.TrustedProxies,
		Loki:           cfg.LokiEndpoint, Prometheus: cfg.PrometheusURL, PrometheusAppLabel: cfg.PrometheusAppLabel,
	})
	srv := &api.Server{
		Metrics:  reg,
		Requests: api.NewRequestMetrics(reg),
		Register: apiV1.Register,
		Checks: map[string]api.Checker{
			"database": api.CheckerFunc(func(ctx context.Context) (string, error) {
				return "", s.Pool.Ping(ctx)
			}),
			"docker": api.CheckerFunc(func(ctx context.Context) (string, error) {
				info, err := docker.Info(ctx)
				if err != nil {
					return "", err
				}
				if info.Swarm.LocalNodeState != "active" {
					return "", fmt.Errorf("swarm is %s, want active", info.Swarm.LocalNodeState)
				}
				return "engine " + info.ServerVersion + ", swarm active", nil
			}),
		},
	}
	g, gctx := errgroup.WithContext(ctx)
	if cfg.MetricsListen != "" {
		// /metrics only there: the public listener answers it 404.
		srv.Metrics = nil
		mln, err := net.Listen("tcp", cfg.MetricsListen)
		if err != nil {
			ln.Close()
			return fmt.Errorf("listen on PAAS_METRICS_LISTEN %s: %w", cfg.MetricsListen, err)
		}
		log.Info().Str("listen", mln.Addr().String()).Msg("serving /metrics")
		g.Go(func() error { return serveMetrics(gctx, mln, reg) })
	}
	if cfg.DebugListen != "" {
		g.Go(func() error { return serveDebug(gctx, cfg.DebugListen) })
	}
	g.Go(func() error { return srv.Serve(gctx, ln) })
	// Cached API answers follow the database's change notifications.
	g.Go(func() error { return apiV1.Run(gctx) })
	// Every replica campaigns; only the elected leader runs the loops.
	g.Go(func() error { return manager.Run(gctx) })
	err = g.Wait()
	if err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	log.Info().Dur("uptime", time.Since(started).Round(time.Second)).Msg("stopped")
	return nil
}

// serveMetrics serves GET /metrics on ln until ctx ends.
func serveMetrics(ctx context.Context, ln net.Listener, g prometheus.Gatherer) error {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", api.MetricsHandler(g))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("metrics listener: %w", err)
	}
	return nil
}

// serveDebug serves Go's profiles (net/http/pprof) until ctx ends.
func serveDebug(ctx context.Context, addr string) error {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Addr: addr, Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	zerolog.Ctx(ctx).Info().Str("listen", addr).Msg("serving pprof")
	if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("debug listener: %w", err)
	}
	return nil
}
