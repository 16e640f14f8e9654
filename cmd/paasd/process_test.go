package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/docker/docker/api/types"
	"github.com/docker/docker/api/types/swarm"
	"github.com/docker/docker/client"
	"github.com/google/uuid"

	paasswarm "github.com/skypanel/paas/controllers/swarm"
	"github.com/skypanel/paas/controllers/swarm/swarmtest"
	"github.com/skypanel/paas/store"
	"github.com/skypanel/paas/store/secret"
	"github.com/skypanel/paas/store/storetest"
)

// paasdBinary is built once per test run by TestMain.
var paasdBinary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "paasd-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	paasdBinary = filepath.Join(dir, "paasd")
	// Tests run paasd with the race detector; benchmarks measure the binary
	// operators run, without it.
	flag.Parse()
	args := []string{"build", "-race", "-o", paasdBinary, "."}
	if f := flag.Lookup("test.bench"); f != nil && f.Value.String() != "" {
		args = []string{"build", "-o", paasdBinary, "."}
	}
	build := exec.Command("go", args...)
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build paasd:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// cluster is one test's installation: a database, an installation id, and
// the paasd processes serving it.
type cluster struct {
	t        testing.TB
	ctx      context.Context
	url      string
	store    *store.Store
	docker   *client.Client
	instance string
	key      string
	box      *secret.Box
	org      store.Organization
	plan     store.Plan
	// extraEnv is added to every process started.
	extraEnv []string
}

func newCluster(t testing.TB, databaseURL string) *cluster {
	t.Helper()
	ctx := context.Background()
	if databaseURL == "" {
		databaseURL = storetest.NewURL(t)
	}
	s, err := store.Open(ctx, databaseURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	keyBytes := make([]byte, 32)
	_, _ = rand.Read(keyBytes)
	box, _ := secret.NewBox(keyBytes)
	docker := swarmtest.Client(t)
	instance := storetest.InstanceID(t)
	swarmtest.CleanupInstance(t, docker, instance)
	org, err := s.CreateOrganization(ctx, store.CreateOrganizationParams{Name: "Acme", Slug: "acme"})
	if err != nil {
		t.Fatal(err)
	}
	plan, err := s.GetPlanByName(ctx, "hobby")
	if err != nil {
		t.Fatal(err)
	}
	return &cluster{t: t, ctx: ctx, url: databaseURL, store: s, docker: docker, instance: instance,
		key: hex.EncodeToString(keyBytes), box: box, org: org, plan: plan}
}

// proc is one running paasd.
type proc struct {
	name string
	cmd  *exec.Cmd
	addr string
	mu   sync.Mutex
	log  []string
	done chan struct{}
}

// command returns `paasd args...` with the cluster's environment and short
// intervals, listening on port.
func (c *cluster) command(port int, args ...string) *exec.Cmd {
	cmd := exec.Command(paasdBinary, args...)
	cmd.Env = append(os.Environ(),
		"DATABASE_URL="+c.url, "JWT_SECRET="+strings.Repeat("j", 32), "ENCRYPTION_KEY="+c.key,
		"PAAS_INSTANCE_ID="+c.instance, "PAAS_LISTEN=127.0.0.1:"+strconv.Itoa(port), "LOG_LEVEL=info",
		"PAAS_RESYNC_INTERVAL=3s", "PAAS_UPDATE_MONITOR=2s", "PAAS_ROLLOUT_DEADLINE=2m", "PAAS_POLL_INTERVAL=250ms",
		"PAAS_LEADER_CHECK_INTERVAL=500ms", "PAAS_LEADER_RETRY_INTERVAL=250ms",
	)
	cmd.Env = append(cmd.Env, c.extraEnv...)
	return cmd
}

// start runs `paasd serve` for the cluster with short intervals.
func (c *cluster) start(name string, args ...string) *proc {
	c.t.Helper()
	port := swarmtest.FreePort(c.t)
	cmd := c.command(port, append([]string{"serve"}, args...)...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		c.t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		c.t.Fatal(err)
	}
	p := &proc{name: name, cmd: cmd, addr: "127.0.0.1:" + strconv.Itoa(port), done: make(chan struct{})}
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			p.mu.Lock()
			p.log = append(p.log, sc.Text())
			p.mu.Unlock()
		}
		_ = cmd.Wait()
		close(p.done)
	}()
	c.t.Cleanup(func() {
		p.kill(syscall.SIGKILL)
		if c.t.Failed() {
			for _, l := range p.lines() {
				c.t.Logf("%s: %s", name, l)
			}
		}
	})
	swarmtest.Eventually(c.t, 30*time.Second, name+" answers /healthz", func() bool {
		resp, err := http.Get("http://" + p.addr + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
	return p
}

func (p *proc) kill(sig syscall.Signal) {
	if p.cmd.Process != nil {
		_ = p.cmd.Process.Signal(sig)
	}
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
	}
}

func (p *proc) lines() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.log...)
}

func (p *proc) count(substr string) int {
	n := 0
	for _, l := range p.lines() {
		if strings.Contains(l, substr) {
			n++
		}
	}
	return n
}

// isLeader reads the paas_leader gauge from the process's /metrics.
func (p *proc) isLeader() bool {
	resp, err := http.Get("http://" + p.addr + "/metrics")
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "paas_leader ") {
			return strings.TrimSpace(strings.TrimPrefix(sc.Text(), "paas_leader ")) == "1"
		}
	}
	return false
}

func (c *cluster) createApp(name, image string, replicas int32) store.App {
	c.t.Helper()
	a, err := c.store.CreateApp(c.ctx, store.CreateAppParams{
		OrganizationID: c.org.ID, Name: name, ServiceName: store.ServiceNameFor(c.instance, name),
		Image: image, Replicas: replicas, Port: 8080, Command: []string{}, PlanID: c.plan.ID,
	})
	if err != nil {
		c.t.Fatal(err)
	}
	return a
}

func (c *cluster) setEnv(id uuid.UUID, k, v string) {
	c.t.Helper()
	sealed, _ := c.box.Seal([]byte(v), secret.EnvAD(id, k))
	if err := c.store.UpsertEnvVar(c.ctx, store.UpsertEnvVarParams{AppID: id, Key: k, ValueEncrypted: sealed}); err != nil {
		c.t.Fatal(err)
	}
}

func (c *cluster) patch(id uuid.UUID, change func(p *store.UpdateAppSpecParams)) {
	c.t.Helper()
	storetest.PatchApp(c.t, c.store, id, change)
}

// services lists every service of the cluster's installation for an app.
func (c *cluster) services(id uuid.UUID) []swarm.Service {
	c.t.Helper()
	return c.servicesByLabel(c.t, id.String())
}

// servicesByLabel lists the installation's services labelled with an app id.
func (c *cluster) servicesByLabel(t testing.TB, appID string) []swarm.Service {
	t.Helper()
	f := paasswarm.InstanceFilter(c.instance)
	f.Add("label", paasswarm.LabelAppID+"="+appID)
	list, err := c.docker.ServiceList(c.ctx, types.ServiceListOptions{Filters: f, Status: true})
	if err != nil {
		t.Fatal(err)
	}
	return list
}

// converged reports whether the app runs its newest release, deployed, with
// every replica up and status current.
func (c *cluster) converged(id uuid.UUID, replicas uint64, release int32) bool {
	a, err := c.store.GetApp(c.ctx, id)
	if err != nil {
		return false
	}
	d, err := c.store.GetLatestDeployment(c.ctx, id)
	if err != nil || d.Version != release || d.Status != "deployed" {
		return false
	}
	svcs := c.services(id)
	return len(svcs) == 1 && svcs[0].ServiceStatus != nil && svcs[0].ServiceStatus.RunningTasks == replicas &&
		*svcs[0].Spec.Mode.Replicated.Replicas == replicas && a.ObservedGeneration == a.Generation &&
		a.Phase == "Running" && svcs[0].Spec.Labels["paas.release"] == strconv.Itoa(int(release))
}

// waitConverged waits until converged holds, failing with what the
// database and Swarm last showed.
func (c *cluster) waitConverged(id uuid.UUID, replicas uint64, release int32, timeout time.Duration, what string) {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	for !c.converged(id, replicas, release) {
		if time.Now().After(deadline) {
			c.t.Fatalf("timed out after %s: %s; now %s", timeout, what, c.describe(id))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// describe summarises an app's row, latest release and services.
func (c *cluster) describe(id uuid.UUID) string {
	var b strings.Builder
	if a, err := c.store.GetApp(c.ctx, id); err != nil {
		fmt.Fprintf(&b, "app: %v; ", err)
	} else {
		fmt.Fprintf(&b, "app: phase %s, generation %d/%d observed, replicas %d, running %d, message %q; ",
			a.Phase, a.Generation, a.ObservedGeneration, a.Replicas, a.RunningReplicas, a.StatusMessage)
	}
	if d, err := c.store.GetLatestDeployment(c.ctx, id); err != nil {
		fmt.Fprintf(&b, "release: %v; ", err)
	} else {
		fmt.Fprintf(&b, "release %d %s; ", d.Version, d.Status)
	}
	for _, svc := range c.services(id) {
		running := uint64(0)
		if svc.ServiceStatus != nil {
			running = svc.ServiceStatus.RunningTasks
		}
		fmt.Fprintf(&b, "service %s: replicas %d, running %d, release label %s; ",
			svc.Spec.Name, *svc.Spec.Mode.Replicated.Replicas, running, svc.Spec.Labels["paas.release"])
	}
	return b.String()
}

func (c *cluster) versions(id uuid.UUID) []int32 {
	c.t.Helper()
	ds, err := c.store.ListDeployments(c.ctx, store.ListDeploymentsParams{AppID: id, Limit: 100})
	if err != nil {
		c.t.Fatal(err)
	}
	var vs []int32
	for _, d := range ds {
		vs = append(vs, d.Version)
	}
	return vs
}
