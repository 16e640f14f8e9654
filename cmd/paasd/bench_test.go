package main

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/google/uuid"

	"github.com/skypanel/paas/controllers/swarm/swarmtest"
	"github.com/skypanel/paas/store"
)

// Whole-system benchmarks: each runs a real paasd against the real Swarm and
// compares with what an operator would do instead, in the same run. They
// run once per invocation (hack/bench passes -benchtime 1x) and report
// their figures as custom metrics.

// scrape reads paasd's /metrics into name{labels} -> value.
func (p *proc) scrape(tb testing.TB) map[string]float64 {
	tb.Helper()
	resp, err := http.Get("http://" + p.addr + "/metrics")
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err == nil {
			out[line[:i]] = v
		}
	}
	return out
}

func dockerCalls(m map[string]float64) (total, updates, lists float64) {
	for k, v := range m {
		if !strings.HasPrefix(k, "paas_docker_requests_total{") {
			continue
		}
		total += v
		if strings.Contains(k, "/update") {
			updates += v
		}
		if strings.Contains(k, `op="GET /services"`) {
			lists += v
		}
	}
	return
}

func percentile(ds []time.Duration, p float64) time.Duration {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[int(float64(len(s)-1)*p)]
}

// BenchmarkDriftRepair measures how long a hand `docker service scale` lasts
// before paasd reverts it, over 20 trials.
func BenchmarkDriftRepair(b *testing.B) {
	c := newCluster(b, "")
	a := c.createApp("drift", "paas-testapp:v1", 1)
	c.start("paasd")
	swarmtest.Eventually(b, 90*time.Second, "converged", func() bool { return c.converged(a.ID, 1, 1) })
	var lat []time.Duration
	b.ResetTimer()
	for trial := 0; trial < 20; trial++ {
		before, _, err := c.docker.ServiceInspectWithRaw(c.ctx, a.ServiceName, types.ServiceInspectOptions{})
		if err != nil {
			b.Fatal(err)
		}
		// Timed from issuing the command (CLI start-up included, so an
		// upper bound) until the revert is visible in Swarm.
		start := time.Now()
		if out, err := exec.Command("docker", "service", "scale", "--detach", a.ServiceName+"=3").CombinedOutput(); err != nil {
			b.Fatalf("scale: %v\n%s", err, out)
		}
		waitReverted(b, c, a.ServiceName, before.Version.Index)
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	b.ReportMetric(float64(percentile(lat, 0.5).Milliseconds()), "p50-ms")
	b.ReportMetric(float64(percentile(lat, 0.95).Milliseconds()), "p95-ms")
}

// waitReverted polls every 10ms until the service is back at one replica
// after an edit to three (the previous spec had three, and the version index
// moved twice: the edit and the revert).
func waitReverted(b testing.TB, c *cluster, name string, indexBefore uint64) {
	b.Helper()
	start := time.Now()
	for time.Since(start) < 30*time.Second {
		svc, _, err := c.docker.ServiceInspectWithRaw(context.Background(), name, types.ServiceInspectOptions{})
		if err == nil && svc.Version.Index >= indexBefore+2 && *svc.Spec.Mode.Replicated.Replicas == 1 &&
			svc.PreviousSpec != nil && svc.PreviousSpec.Mode.Replicated != nil && *svc.PreviousSpec.Mode.Replicated.Replicas == 3 {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	b.Fatal("drift not reverted within 30s")
}

// BenchmarkCreate100Apps creates 100 apps at once and waits until every
// service runs its replica, against `docker stack deploy` of the same 100
// services in the same run; ratio = paasd / stack.
func BenchmarkCreate100Apps(b *testing.B) {
	const n = 100
	c := newCluster(b, "")
	image := "paas-testapp:v1"

	// docker stack deploy of the same services.
	dir := b.TempDir()
	var compose strings.Builder
	compose.WriteString("version: \"3.8\"\nservices:\n")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&compose, "  s%d:\n    image: %s\n    deploy:\n      replicas: 1\n", i, image)
	}
	file := filepath.Join(dir, "stack.yml")
	if err := os.WriteFile(file, []byte(compose.String()), 0o644); err != nil {
		b.Fatal(err)
	}
	stack := "bench" + c.instance
	b.Cleanup(func() { _ = exec.Command("docker", "stack", "rm", stack).Run() })
	start := time.Now()
	if out, err := exec.Command("docker", "stack", "deploy", "--resolve-image", "never", "-c", file, stack).CombinedOutput(); err != nil {
		b.Fatalf("stack deploy: %v\n%s", err, out)
	}
	waitRunning(b, filters.NewArgs(filters.Arg("label", "com.docker.stack.namespace="+stack)), n)
	stackTime := time.Since(start)
	if out, err := exec.Command("docker", "stack", "rm", stack).CombinedOutput(); err != nil {
		b.Fatalf("stack rm: %v\n%s", err, out)
	}
	// `stack rm` returns before its containers are gone; measuring paasd
	// while the engine still tears down 100 containers would be unfair.
	swarmtest.Eventually(b, 5*time.Minute, "stack containers gone", func() bool {
		list, err := c.docker.ContainerList(c.ctx, container.ListOptions{All: true,
			Filters: filters.NewArgs(filters.Arg("label", "com.docker.stack.namespace="+stack))})
		return err == nil && len(list) == 0
	})

	// paasd: the same 100 services, declared in one transaction. Their plan
	// is a tiny one: plans reserve a quarter of their CPU, and 100 hobby
	// apps would reserve 12.5 CPUs, more than this machine has.
	var planID uuid.UUID
	if err := c.store.Pool.QueryRow(c.ctx, `INSERT INTO paas_plans (name, display_name, cpu_millis, memory_mb, max_replicas, price_hourly_micros)
		VALUES ('bench', 'Bench', 20, 64, 1, 0) RETURNING id`).Scan(&planID); err != nil {
		b.Fatal(err)
	}
	c.extraEnv = []string{"PAAS_POLL_INTERVAL=1s"} // the production default
	p := c.start("paasd")
	// An operator's paasd is already up and leading; so is this one before the clock starts.
	swarmtest.Eventually(b, 30*time.Second, "paasd leads", func() bool { return p.count("leading: reconcilers started") > 0 })
	cpu0 := p.scrape(b)["process_cpu_seconds_total"]
	start = time.Now()
	err := c.store.InTx(c.ctx, func(q *store.Queries) error {
		for i := 0; i < n; i++ {
			name := fmt.Sprintf("s%d", i)
			if _, err := q.CreateApp(c.ctx, store.CreateAppParams{
				OrganizationID: c.org.ID, Name: name, ServiceName: store.ServiceNameFor(c.instance, name),
				Image: image, Replicas: 1, Port: 8080, Command: []string{}, PlanID: planID,
			}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	waitRunning(b, filters.NewArgs(filters.Arg("label", "paas.instance="+c.instance)), n)
	paasTime := time.Since(start)
	b.ReportMetric(p.scrape(b)["process_cpu_seconds_total"]-cpu0, "paasd-cpu-s")
	m := p.scrape(b)
	calls, _, _ := dockerCalls(m)
	b.ReportMetric(calls, "docker-calls")
	b.ReportMetric(paasTime.Seconds(), "paasd-s")
	b.ReportMetric(stackTime.Seconds(), "stack-s")
	b.ReportMetric(paasTime.Seconds()/stackTime.Seconds(), "ratio")
}

// waitRunning waits until n services match f, each with all replicas running.
func waitRunning(b testing.TB, f filters.Args, n int) {
	b.Helper()
	docker := swarmtest.Client(b)
	swarmtest.Eventually(b, 10*time.Minute, fmt.Sprintf("%d services running", n), func() bool {
		list, err := docker.ServiceList(context.Background(), types.ServiceListOptions{Filters: f, Status: true})
		if os.Getenv("BENCH_TRACE") != "" {
			var run uint64
			for _, s := range list {
				if s.ServiceStatus != nil {
					run += s.ServiceStatus.RunningTasks
				}
			}
			b.Logf("%s services=%d running=%d", time.Now().Format("15:04:05.0"), len(list), run)
		}
		if err != nil || len(list) != n {
			return false
		}
		for _, s := range list {
			if s.ServiceStatus == nil || s.ServiceStatus.RunningTasks != s.ServiceStatus.DesiredTasks || s.ServiceStatus.DesiredTasks == 0 {
				return false
			}
		}
		return true
	})
}

// BenchmarkSteadyState1000Apps holds 1,000 converged apps (zero replicas)
// and measures, per resync, the Docker API calls and CPU seconds paasd
// spends, and paasd's resident memory.
func BenchmarkSteadyState1000Apps(b *testing.B) {
	const n = 1000
	c := newCluster(b, "")
	c.extraEnv = []string{"PAAS_RESYNC_INTERVAL=5s", "LOG_LEVEL=warn"}
	// BENCH_PPROF=file saves a 10s CPU profile of paasd in steady state.
	profile := os.Getenv("BENCH_PPROF")
	if profile != "" {
		c.extraEnv = append(c.extraEnv, "PAAS_DEBUG_LISTEN=127.0.0.1:6061")
	}
	err := c.store.InTx(c.ctx, func(q *store.Queries) error {
		for i := 0; i < n; i++ {
			name := fmt.Sprintf("a%d", i)
			if _, err := q.CreateApp(c.ctx, store.CreateAppParams{
				OrganizationID: c.org.ID, Name: name, ServiceName: store.ServiceNameFor(c.instance, name),
				Image: "paas-testapp:v1", Replicas: 0, Port: 8080, Command: []string{}, PlanID: c.plan.ID,
			}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	p := c.start("paasd")
	swarmtest.Eventually(b, 15*time.Minute, "all apps converged", func() bool {
		var settled int
		// Stopped outranks Deploying in the phase: also wait for every
		// release to finish, or rollouts still ending would be measured.
		err := c.store.Pool.QueryRow(c.ctx, `SELECT count(*) FROM paas_apps WHERE observed_generation = generation AND phase = 'Stopped'
			AND NOT EXISTS (SELECT 1 FROM paas_deployments WHERE status IN ('pending', 'deploying'))`).Scan(&settled)
		return err == nil && settled == n
	})
	// Let in-flight work drain, then measure over whole resyncs.
	m0 := p.scrape(b)
	swarmtest.Eventually(b, time.Minute, "a resync after convergence", func() bool {
		return p.scrape(b)["paas_resyncs_total"] >= m0["paas_resyncs_total"]+2
	})
	if profile != "" {
		out, err := exec.Command("curl", "-sf", "-o", profile, "http://127.0.0.1:6061/debug/pprof/profile?seconds=10").CombinedOutput()
		if err != nil {
			b.Fatalf("profile: %v %s", err, out)
		}
	}
	before := p.scrape(b)
	const resyncs = 4
	swarmtest.Eventually(b, 2*time.Minute, "resyncs", func() bool {
		return p.scrape(b)["paas_resyncs_total"] >= before["paas_resyncs_total"]+resyncs
	})
	after := p.scrape(b)
	done := after["paas_resyncs_total"] - before["paas_resyncs_total"]
	t0, u0, l0 := dockerCalls(before)
	t1, u1, l1 := dockerCalls(after)
	for k, v := range after {
		if d := v - before[k]; strings.HasPrefix(k, "paas_docker_requests_total{") && d > 0 {
			b.Logf("%s: %.1f per resync", k, d/done)
		}
	}
	b.ReportMetric((t1-t0)/done, "docker-calls/resync")
	b.ReportMetric((l1-l0)/done, "list-calls/resync")
	b.ReportMetric((u1-u0)/done, "updates/resync")
	b.ReportMetric((after["process_cpu_seconds_total"]-before["process_cpu_seconds_total"])/done, "cpu-s/resync")
	b.ReportMetric(after["process_resident_memory_bytes"]/(1<<20), "rss-MB")
}
