package controllers_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types"
	"github.com/docker/docker/api/types/swarm"
	"github.com/docker/docker/client"
	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/skypanel/paas/controllers"
	"github.com/skypanel/paas/controllers/servicespec"
	paasswarm "github.com/skypanel/paas/controllers/swarm"
	"github.com/skypanel/paas/controllers/swarm/swarmtest"
	"github.com/skypanel/paas/store"
	"github.com/skypanel/paas/store/secret"
	"github.com/skypanel/paas/store/storetest"
)

// env is one test's world: its own database, installation id and manager.
type env struct {
	t        *testing.T
	ctx      context.Context
	store    *store.Store
	docker   *client.Client
	box      *secret.Box
	instance string
	org      store.Organization
	plan     store.Plan
	manager  *controllers.Manager
	reg      *prometheus.Registry
	// stopManager stops the manager (as a stopped paasd), leaving the rest.
	stopManager func()
}

// setup starts a manager with short intervals against a fresh database and
// the real Swarm, and stops it (removing every service of the test's
// installation) when the test ends. configure, if any, adjusts the manager
// before it runs (e.g. registers a loop).
func setup(t *testing.T, configure ...func(*controllers.Manager)) *env {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	url := storetest.NewURL(t)
	s, err := store.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	docker := swarmtest.Client(t)
	instance := storetest.InstanceID(t)
	swarmtest.CleanupInstance(t, docker, instance)
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	box, err := secret.NewBox(key)
	if err != nil {
		t.Fatal(err)
	}
	org, err := s.CreateOrganization(ctx, store.CreateOrganizationParams{Name: "Acme", Slug: "acme"})
	if err != nil {
		t.Fatal(err)
	}
	// A small plan: a quarter of its CPU is reserved per task, and the
	// package's tests run in parallel on a two-core machine, where the
	// seeded plans' reservations would leave start-first rollouts pending.
	var plan store.Plan
	if err := s.Pool.QueryRow(ctx, `INSERT INTO paas_plans (name, display_name, cpu_millis, memory_mb, max_replicas, price_hourly_micros)
		VALUES ('test', 'Test', 100, 128, 3, 1000) RETURNING id, name, cpu_millis, memory_mb`).Scan(&plan.ID, &plan.Name, &plan.CpuMillis, &plan.MemoryMb); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	m := &controllers.Manager{
		Store: s, DatabaseURL: url, Docker: docker, Box: box, InstanceID: instance,
		ResyncInterval: 2 * time.Second, RolloutDeadline: 90 * time.Second,
		UpdateMonitor: 2 * time.Second, PollInterval: 250 * time.Millisecond, Workers: 4,
		LeaderCheckInterval: 500 * time.Millisecond, LeaderRetryInterval: 250 * time.Millisecond,
		TombstoneRetention: 3 * time.Second, Registerer: reg,
	}
	for _, c := range configure {
		c(m)
	}
	log := zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.InfoLevel).With().Timestamp().Logger()
	done := make(chan struct{})
	mctx, stop := context.WithCancel(ctx)
	go func() {
		defer close(done)
		if err := m.Run(log.WithContext(mctx)); err != nil {
			t.Errorf("manager: %v", err)
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		s.Close()
	})
	return &env{t: t, ctx: ctx, store: s, docker: docker, box: box, instance: instance, org: org, plan: plan, manager: m, reg: reg,
		stopManager: func() { stop(); <-done }}
}

// createApp inserts an app the way the API does.
func (e *env) createApp(name, image string, replicas int32, env map[string]string) store.App {
	e.t.Helper()
	a, err := e.store.CreateApp(e.ctx, store.CreateAppParams{
		OrganizationID: e.org.ID, Name: name, ServiceName: store.ServiceNameFor(e.instance, name),
		Image: image, Replicas: replicas, Port: 8080, Command: []string{}, PlanID: e.plan.ID,
	})
	if err != nil {
		e.t.Fatal(err)
	}
	for k, v := range env {
		e.setEnv(a.ID, k, v)
	}
	return a
}

func (e *env) setEnv(appID uuid.UUID, k, v string) {
	e.t.Helper()
	sealed, err := e.box.Seal([]byte(v))
	if err != nil {
		e.t.Fatal(err)
	}
	if err := e.store.UpsertEnvVar(e.ctx, store.UpsertEnvVarParams{AppID: appID, Key: k, ValueEncrypted: sealed}); err != nil {
		e.t.Fatal(err)
	}
}

// patch applies change to the app's spec, as the API does.
func (e *env) patch(id uuid.UUID, change func(p *store.UpdateAppSpecParams)) store.App {
	e.t.Helper()
	return storetest.PatchApp(e.t, e.store, id, change)
}

func (e *env) app(id uuid.UUID) store.App {
	e.t.Helper()
	a, err := e.store.GetApp(e.ctx, id)
	if err != nil {
		e.t.Fatalf("get app: %v", err)
	}
	return a
}

// service returns the app's live service, read straight from Docker.
func (e *env) service(id uuid.UUID) (swarm.Service, bool) {
	e.t.Helper()
	f := paasswarm.InstanceFilter(e.instance)
	f.Add("label", paasswarm.LabelAppID+"="+id.String())
	list, err := e.docker.ServiceList(e.ctx, types.ServiceListOptions{Filters: f, Status: true})
	if err != nil {
		e.t.Fatal(err)
	}
	if len(list) > 1 {
		e.t.Fatalf("%d services for app %s", len(list), id)
	}
	if len(list) == 0 {
		return swarm.Service{}, false
	}
	return list[0], true
}

func (e *env) condition(a store.App, typ string) servicespec.Condition {
	var conds []servicespec.Condition
	_ = json.Unmarshal(a.Conditions, &conds)
	if c := servicespec.FindCondition(conds, typ); c != nil {
		return *c
	}
	return servicespec.Condition{}
}

// waitReady waits until the app is Ready with every replica running, status
// up to date with the spec, and its newest release deployed.
func (e *env) waitReady(id uuid.UUID, timeout time.Duration) store.App {
	e.t.Helper()
	var a store.App
	swarmtest.Eventually(e.t, timeout, "app ready", func() bool {
		a = e.app(id)
		d, err := e.store.GetLatestDeployment(e.ctx, id)
		return err == nil && d.Status == "deployed" && a.ObservedGeneration == a.Generation &&
			e.condition(a, "Ready").Status == "True" && a.RunningReplicas == a.Replicas
	})
	return a
}

func (e *env) deployment(id uuid.UUID, version int32) store.Deployment {
	e.t.Helper()
	d, err := e.store.GetDeploymentByVersion(e.ctx, store.GetDeploymentByVersionParams{AppID: id, Version: version})
	if err != nil {
		e.t.Fatalf("deployment %d: %v", version, err)
	}
	return d
}

func (e *env) waitDeployment(id uuid.UUID, version int32, status string, timeout time.Duration) store.Deployment {
	e.t.Helper()
	var d store.Deployment
	swarmtest.Eventually(e.t, timeout, fmt.Sprintf("deployment %d %s", version, status), func() bool {
		var err error
		d, err = e.store.GetDeploymentByVersion(e.ctx, store.GetDeploymentByVersionParams{AppID: id, Version: version})
		return err == nil && d.Status == status
	})
	return d
}

// events returns the app's events as "Reason: message" lines.
func (e *env) events(id uuid.UUID) []store.Event {
	e.t.Helper()
	evs, err := e.store.ListEvents(e.ctx, store.ListEventsParams{ObjectKind: "app", ObjectID: id, Limit: 100})
	if err != nil {
		e.t.Fatal(err)
	}
	return evs
}

func (e *env) waitEvent(id uuid.UUID, reason, contains string, timeout time.Duration) store.Event {
	e.t.Helper()
	var found store.Event
	swarmtest.Eventually(e.t, timeout, fmt.Sprintf("event %s containing %q", reason, contains), func() bool {
		for _, ev := range e.events(id) {
			if ev.Reason == reason && strings.Contains(ev.Message, contains) {
				found = ev
				return true
			}
		}
		return false
	})
	return found
}

func (e *env) imageID(ref string) string {
	e.t.Helper()
	id, err := paasswarm.ResolveImage(e.ctx, e.docker, ref)
	if err != nil {
		e.t.Fatal(err)
	}
	return id
}

func dockerCLI(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("docker", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("docker %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}
