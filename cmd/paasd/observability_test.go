package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/client"

	"github.com/skypanel/paas/controllers/swarm/swarmtest"
	"github.com/skypanel/paas/deploy"
)

// cadvisorStandIn serves, in Prometheus's text format and under
// cAdvisor's metric and label names, what Docker reports for the running
// containers of one installation's apps: the test app's metrics source.
// (cAdvisor's image cannot be pulled here; the names it exports are in
// deploy/grafana/cadvisor-metrics.txt.)
func cadvisorStandIn(t *testing.T, docker *client.Client, instance string) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		list, err := docker.ContainerList(ctx, container.ListOptions{Filters: filters.NewArgs(filters.Arg("label", "paas.instance="+instance))})
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		var b strings.Builder
		b.WriteString("# TYPE container_cpu_usage_seconds_total counter\n# TYPE container_memory_working_set_bytes gauge\n" +
			"# TYPE container_network_receive_bytes_total counter\n# TYPE container_network_transmit_bytes_total counter\n" +
			"# TYPE container_start_time_seconds gauge\n")
		for _, ct := range list {
			app := ct.Labels["paas.app.id"]
			if app == "" {
				continue
			}
			rd, err := docker.ContainerStatsOneShot(ctx, ct.ID)
			if err != nil {
				continue // gone meanwhile
			}
			var st container.StatsResponse
			err = json.NewDecoder(rd.Body).Decode(&st)
			rd.Body.Close()
			if err != nil {
				continue
			}
			labels := fmt.Sprintf(`{container_label_paas_app_id=%q,id="/docker/%s",image=%q,name=%q}`, app, ct.ID, ct.Image, strings.TrimPrefix(ct.Names[0], "/"))
			var rx, tx uint64
			for _, n := range st.Networks {
				rx += n.RxBytes
				tx += n.TxBytes
			}
			ws := st.MemoryStats.Usage - min(st.MemoryStats.Stats["inactive_file"], st.MemoryStats.Usage)
			fmt.Fprintf(&b, "container_cpu_usage_seconds_total%s %g\n", labels, float64(st.CPUStats.CPUUsage.TotalUsage)/1e9)
			fmt.Fprintf(&b, "container_memory_working_set_bytes%s %d\n", labels, ws)
			fmt.Fprintf(&b, "container_network_receive_bytes_total%s %d\n", labels, rx)
			fmt.Fprintf(&b, "container_network_transmit_bytes_total%s %d\n", labels, tx)
			fmt.Fprintf(&b, "container_start_time_seconds%s %d\n", labels, ct.Created)
		}
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		_, _ = io.WriteString(w, b.String())
	}))
	t.Cleanup(srv.Close)
	return srv
}

// startPrometheus runs Debian's prometheus on loopback with config (and
// the platform's alerting rules beside it) until the test ends; it answers
// its base URL once ready.
func startPrometheus(t *testing.T, config string) string {
	t.Helper()
	bin, err := exec.LookPath("prometheus")
	if err != nil {
		t.Fatal("prometheus not found: apt-get install -y prometheus (hack/promtool-up.sh does it)")
	}
	dir := t.TempDir()
	rules, err := deploy.Static.ReadFile("prometheus/alerts.yml")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "alerts.yml"), rules, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	port := swarmtest.FreePort(t)
	base := "http://127.0.0.1:" + strconv.Itoa(port)
	var logBuf bytes.Buffer
	cmd := exec.Command(bin, "--config.file="+filepath.Join(dir, "prometheus.yml"), "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address=127.0.0.1:"+strconv.Itoa(port), "--log.level=warn")
	cmd.Stdout, cmd.Stderr = &logBuf, &logBuf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-done
		if t.Failed() {
			t.Logf("prometheus:\n%s", logBuf.String())
		}
	})
	swarmtest.Eventually(t, 60*time.Second, "prometheus ready", func() bool {
		resp, err := http.Get(base + "/-/ready")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
	return base
}

// promQuery runs an instant query and answers its vector.
func promQuery(t *testing.T, base, q string) []struct {
	Metric map[string]string `json:"metric"`
	Value  [2]any            `json:"value"`
} {
	t.Helper()
	resp, err := http.Get(base + "/api/v1/query?query=" + url.QueryEscape(q))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var ans struct {
		Status string `json:"status"`
		Data   struct {
			Result []struct {
				Metric map[string]string `json:"metric"`
				Value  [2]any            `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&ans); err != nil || ans.Status != "success" {
		t.Fatalf("query %s: %v %s", q, err, ans.Status)
	}
	return ans.Data.Result
}

// exposedNames are the metric names in a Prometheus text exposition, with
// the series names of histograms and summaries.
func exposedNames(body string) map[string]bool {
	names := map[string]bool{}
	sc := bufio.NewScanner(strings.NewReader(body))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 4 && f[0] == "#" && f[1] == "TYPE" {
			names[f[2]] = true
			if f[3] == "histogram" || f[3] == "summary" {
				for _, s := range []string{"_bucket", "_sum", "_count"} {
					names[f[2]+s] = true
				}
			}
		}
	}
	return names
}

// TestObservability runs a real Prometheus (Debian's) on loopback that
// scrapes paasd's /metrics, on PAAS_METRICS_LISTEN, and the test app's
// metrics source; the per-app metrics route answers from it, org-scoped.
// It checks paasd's exposition with promtool, that Prometheus loads the
// platform's alerting rules, and that every dashboard query names a metric
// the live paasd or cAdvisor exports.
func TestObservability(t *testing.T) {
	t.Parallel()
	c := newCluster(t, "")
	seed := exec.Command(paasdBinary, "seed-admin", "--email", "ops@example.com", "--password", "correct horse battery")
	seed.Env = append(os.Environ(), "DATABASE_URL="+c.url)
	if out, err := seed.CombinedOutput(); err != nil {
		t.Fatalf("seed-admin: %v %s", err, out)
	}
	metricsAddr := "127.0.0.1:" + strconv.Itoa(swarmtest.FreePort(t))
	cad := cadvisorStandIn(t, c.docker, c.instance)
	promBase := startPrometheus(t, fmt.Sprintf(`global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files: [alerts.yml]
scrape_configs:
  - job_name: paasd
    static_configs: [{targets: [%q]}]
  - job_name: cadvisor
    static_configs: [{targets: [%q]}]
`, metricsAddr, strings.TrimPrefix(cad.URL, "http://")))
	c.extraEnv = []string{"PAAS_METRICS_LISTEN=" + metricsAddr, "VITE_PROMETHEUS_URL=" + promBase}
	p := c.start("paasd")
	api := &apiClient{t: t, base: "http://" + p.addr}
	var login struct {
		Token string `json:"token"`
	}
	if code := api.do("POST", "/api/auth/login", map[string]string{"email": "ops@example.com", "password": "correct horse battery"}, &login); code != 200 {
		t.Fatalf("login: %d", code)
	}
	api.token = login.Token

	// /metrics is on the metrics listener only.
	if resp, err := http.Get("http://" + p.addr + "/metrics"); err != nil || resp.StatusCode != 404 {
		t.Fatalf("public /metrics: %v %v, want 404", resp, err)
	} else {
		resp.Body.Close()
	}

	var app apiApp
	if code := api.do("POST", "/api/paas/apps", map[string]any{"name": "web", "spec": map[string]any{"image": "paas-testapp:v1", "replicas": 1, "port": 8080}}, &app); code != 201 {
		t.Fatalf("create app: %d", code)
	}
	swarmtest.Eventually(t, 90*time.Second, "the app running", func() bool {
		var a apiApp
		return api.do("GET", "/api/paas/apps/web", nil, &a) == 200 && a.ready() && a.Status.Phase == "Running"
	})
	swarmtest.Eventually(t, 60*time.Second, "Prometheus scraping paasd and the app's metrics source", func() bool {
		up := promQuery(t, promBase, `up{job=~"paasd|cadvisor"} == 1`)
		app := promQuery(t, promBase, `container_memory_working_set_bytes{container_label_paas_app_id="`+app.ID+`"}`)
		return len(up) == 2 && len(app) > 0
	})

	// The route answers the running app's series from Prometheus.
	type point struct {
		T time.Time `json:"t"`
		V float64   `json:"v"`
	}
	var m struct {
		AppID  string `json:"app_id"`
		Series []struct {
			Name   string  `json:"name"`
			Query  string  `json:"query"`
			Points []point `json:"points"`
		} `json:"series"`
	}
	swarmtest.Eventually(t, 60*time.Second, "CPU, memory and network series for the app", func() bool {
		if api.do("GET", "/api/paas/apps/web/metrics?range=2m&step=2s", nil, &m) != 200 || len(m.Series) != 5 {
			return false
		}
		for _, s := range m.Series[:4] { // cpu, memory, network_receive, network_transmit
			if len(s.Points) == 0 {
				return false
			}
		}
		return m.Series[1].Points[len(m.Series[1].Points)-1].V > 0 // memory in use
	})
	if m.AppID != app.ID || m.Series[4].Name != "restarts" || len(m.Series[4].Points) == 0 || m.Series[4].Points[len(m.Series[4].Points)-1].V != 0 {
		t.Fatalf("answer %+v", m)
	}
	// Another organization's app is not found; bounds are refused.
	other := c.createApp("other", "paas-testapp:v1", 0)
	if code := api.do("GET", "/api/paas/apps/"+other.ID.String()+"/metrics", nil, nil); code != 404 {
		t.Fatalf("another organization's app: %d, want 404", code)
	}
	if code := api.do("GET", "/api/paas/apps/web/metrics?range=24h&step=1s", nil, nil); code != 422 {
		t.Fatalf("86401 points: %d, want 422", code)
	}

	// A hand edit is drift the app loop reverts: paas_drift_corrections_total
	// then shows, so every platform metric the dashboards use is exported.
	svcs := c.servicesByLabel(t, app.ID)
	if len(svcs) != 1 {
		t.Fatalf("%d services", len(svcs))
	}
	scale := exec.Command("docker", "service", "scale", "--detach", svcs[0].Spec.Name+"=3")
	if out, err := scale.CombinedOutput(); err != nil {
		t.Fatalf("docker service scale: %v %s", err, out)
	}
	var exposition string
	swarmtest.Eventually(t, 60*time.Second, "paasd to count the drift it reverted", func() bool {
		resp, err := http.Get("http://" + metricsAddr + "/metrics")
		if err != nil {
			return false
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		exposition = string(b)
		return strings.Contains(exposition, "paas_drift_corrections_total{") && strings.Contains(exposition, "paas_rollouts_total{")
	})

	// promtool accepts paasd's exposition.
	check := exec.Command("promtool", "check", "metrics")
	check.Stdin = strings.NewReader(exposition)
	if out, err := check.CombinedOutput(); err != nil {
		t.Fatalf("promtool check metrics: %v\n%s", err, out)
	}

	// Every dashboard and alert query names a metric paasd or cAdvisor exports.
	known := exposedNames(exposition)
	known["up"] = true // Prometheus's own, per target
	cadvisor, err := deploy.Static.ReadFile("grafana/cadvisor-metrics.txt")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(cadvisor), "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			known[l] = true
		}
	}
	var unknown []string
	checkExpr := func(where, expr string) {
		for _, n := range deploy.MetricNames(expr) {
			if !known[n] {
				unknown = append(unknown, where+": "+n)
			}
		}
	}
	promQueries := 0
	for _, name := range deploy.Dashboards {
		b, _ := deploy.Static.ReadFile(name)
		var d struct {
			Panels []struct {
				Title      string
				Datasource struct{ UID string }
				Targets    []struct{ Expr string }
			}
			Templating struct {
				List []struct {
					Name  string
					Query struct{ Query string }
				}
			}
		}
		if err := json.Unmarshal(b, &d); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for _, p := range d.Panels {
			for _, tg := range p.Targets {
				if p.Datasource.UID == "paas-loki" {
					// LogQL: the stream selector Promtail's labels make.
					if !strings.HasPrefix(tg.Expr, `{app_id=`) {
						unknown = append(unknown, name+": "+p.Title+": Loki query "+tg.Expr)
					}
					continue
				}
				promQueries++
				checkExpr(name+": "+p.Title, tg.Expr)
			}
		}
		for _, v := range d.Templating.List {
			checkExpr(name+": $"+v.Name, v.Query.Query)
		}
	}
	for _, s := range m.Series {
		checkExpr("metrics route: "+s.Name, s.Query)
	}
	// Prometheus loaded every alerting rule, and each one's metrics exist.
	resp, err := http.Get(promBase + "/api/v1/rules")
	if err != nil {
		t.Fatal(err)
	}
	var rules struct {
		Data struct {
			Groups []struct {
				Rules []struct {
					Name, Query, Health string
				}
			}
		}
	}
	_ = json.NewDecoder(resp.Body).Decode(&rules)
	resp.Body.Close()
	nRules := 0
	for _, g := range rules.Data.Groups {
		for _, r := range g.Rules {
			nRules++
			checkExpr("alert "+r.Name, r.Query)
			if r.Health == "err" {
				t.Errorf("rule %s: health %s", r.Name, r.Health)
			}
		}
	}
	sort.Strings(unknown)
	if len(unknown) > 0 {
		t.Fatalf("queries name metrics nobody exports:\n%s", strings.Join(unknown, "\n"))
	}
	if promQueries < 10 || nRules < 5 {
		t.Fatalf("%d dashboard queries, %d rules loaded", promQueries, nRules)
	}
	// The platform's own series reached Prometheus, requests by route among them.
	if r := promQuery(t, promBase, `paas_http_requests_total{route="/api/paas/apps/:app/metrics",code="200"}`); len(r) == 0 {
		t.Fatal("no paas_http_requests_total for the metrics route in Prometheus")
	}
}
