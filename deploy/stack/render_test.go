package stack

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/skypanel/paas/deploy/infra"
	"github.com/skypanel/paas/deploy/loglabels"
)

func testConfig() Config {
	return Config{
		Stack: "paas-infra", InstanceID: "inst1", PublicNetwork: "paas-public", InfraNetwork: "paas-infrastructure",
		ACMEEmail: "ops@example.com", LokiRetentionDays: 7, PaasdMetricsTarget: "10.0.0.5:8080",
		HTTPPort: 80, HTTPSPort: 443, Images: DefaultImages(),
	}
}

// parse renders c and decodes every file as YAML, failing on any that does not parse.
func parse(t *testing.T, c Config) map[string]map[string]any {
	t.Helper()
	files, err := Render(c)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]map[string]any{}
	for _, f := range files {
		var doc map[string]any
		if err := yaml.Unmarshal(f.Data, &doc); err != nil {
			t.Fatalf("%s does not parse: %v\n%s", f.Name, err, f.Data)
		}
		out[f.Name] = doc
	}
	return out
}

// at walks a decoded YAML document along keys (strings for maps, ints for lists).
func at(t *testing.T, doc any, path ...any) any {
	t.Helper()
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, ok := doc.(map[string]any)
			if !ok {
				t.Fatalf("at %v: not a map: %#v", path, doc)
			}
			doc = m[k]
		case int:
			l, ok := doc.([]any)
			if !ok || k >= len(l) {
				t.Fatalf("at %v: not a list of %d: %#v", path, k+1, doc)
			}
			doc = l[k]
		}
	}
	return doc
}

func TestRenderedFilesParse(t *testing.T) {
	noEmail := testConfig()
	noEmail.ACMEEmail = ""
	orgs := testConfig()
	orgs.OrgNetworks = []string{"paas-inst1-a", "paas-inst1-b"}
	retention := testConfig()
	retention.LokiRetentionDays = 30
	odd := testConfig()
	odd.ACMEEmail = `o'hara+ops#1:x@example.com`
	for name, c := range map[string]Config{"default": testConfig(), "no acme email": noEmail, "org networks": orgs, "retention": retention, "odd email": odd} {
		t.Run(name, func(t *testing.T) {
			docs := parse(t, c)
			if len(docs) != 9 {
				t.Fatalf("rendered %d files, want 9", len(docs))
			}
			tr := docs["traefik.yml"]
			if got := at(t, tr, "providers", "swarm", "exposedByDefault"); got != false {
				t.Errorf("exposedByDefault = %v, want false", got)
			}
			if got := at(t, tr, "providers", "swarm", "network"); got != c.PublicNetwork {
				t.Errorf("swarm network = %v", got)
			}
			if got := at(t, tr, "providers", "swarm", "endpoint"); got != "unix:///var/run/docker.sock" {
				t.Errorf("swarm endpoint = %v", got)
			}
			if got := at(t, tr, "providers", "swarm", "constraints"); got != "Label(`paas.instance`,`inst1`)" {
				t.Errorf("constraints = %v", got)
			}
			if _, v2 := at(t, tr, "providers").(map[string]any)["docker"]; v2 {
				t.Error("a docker provider is configured: v3 uses providers.swarm")
			}
			if got := at(t, tr, "api", "insecure"); got != false {
				t.Errorf("api.insecure = %v: the dashboard would be exposed without auth", got)
			}
			if got := at(t, tr, "entryPoints", infra.EntryPointWeb, "address"); got != ":80" {
				t.Errorf("web address = %v", got)
			}
			if got := at(t, tr, "entryPoints", infra.EntryPointWebsecure, "address"); got != ":443" {
				t.Errorf("websecure address = %v", got)
			}
			acme := at(t, tr, "certificatesResolvers", infra.CertResolver, "acme").(map[string]any)
			if c.ACMEEmail == "" {
				if _, ok := acme["email"]; ok {
					t.Errorf("acme email rendered although unset: %v", acme["email"])
				}
			} else if acme["email"] != c.ACMEEmail {
				t.Errorf("acme email = %v", acme["email"])
			}
			if acme["storage"] != "/letsencrypt/acme.json" {
				t.Errorf("acme storage = %v", acme["storage"])
			}

			want := strconv.Itoa(c.LokiRetentionDays*24) + "h"
			if got := at(t, docs["loki.yaml"], "limits_config", "retention_period"); got != want {
				t.Errorf("loki retention = %v, want %s", got, want)
			}
			if got := at(t, docs["loki.yaml"], "compactor", "retention_enabled"); got != true {
				t.Errorf("compactor retention_enabled = %v", got)
			}

			relabels := at(t, docs["promtail.yaml"], "scrape_configs", 0, "relabel_configs").([]any)
			found := false
			for _, r := range relabels {
				m := r.(map[string]any)
				if m["target_label"] == loglabels.AppID && at(t, m, "source_labels", 0) == "__meta_docker_container_label_paas_app_id" {
					found = true
				}
			}
			if !found {
				t.Errorf("promtail does not label logs %s from paas.app.id: %v", loglabels.AppID, relabels)
			}
			if got := at(t, docs["promtail.yaml"], "scrape_configs", 0, "docker_sd_configs", 0, "filters", 0, "values", 0); got != "paas.instance=inst1" {
				t.Errorf("promtail filter = %v", got)
			}

			ds := at(t, docs["grafana-datasources.yaml"], "datasources").([]any)
			var types []string
			for _, d := range ds {
				types = append(types, d.(map[string]any)["type"].(string))
			}
			if !slices.Equal(types, []string{"prometheus", "loki"}) {
				t.Errorf("grafana datasources %v", types)
			}

			jobs := map[string]bool{}
			for _, j := range at(t, docs["prometheus.yml"], "scrape_configs").([]any) {
				jobs[j.(map[string]any)["job_name"].(string)] = true
			}
			if !jobs["paasd"] || !jobs["cadvisor"] {
				t.Errorf("prometheus jobs %v, want paasd and cadvisor", jobs)
			}
		})
	}
}

// TestPrometheusConfigPassesPromtool checks the rendered prometheus.yml
// (with the rule file it loads) and the rendered alerting rules with
// Debian's promtool; its absence fails the test (hack/test.sh installs it).
func TestPrometheusConfigPassesPromtool(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatal("promtool not found: apt-get install -y prometheus (hack/test.sh does it)")
	}
	files, err := Render(testConfig())
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	byName := map[string]File{}
	for _, f := range files {
		byName[f.Name] = f
	}
	cfg, rules := byName["prometheus.yml"], byName["alerts.yml"]
	if cfg.Data == nil || rules.Data == nil || rules.Role != infra.RolePrometheus {
		t.Fatalf("prometheus.yml and alerts.yml (for prometheus) must be rendered: %v", files)
	}
	if !bytes.Contains(cfg.Data, []byte("- alerts.yml")) || filepath.Dir(cfg.Target) != filepath.Dir(rules.Target) {
		t.Fatalf("prometheus.yml (%s) does not load %s:\n%s", cfg.Target, rules.Target, cfg.Data)
	}
	rulesPath := filepath.Join(dir, "alerts.yml")
	cfgPath := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(rulesPath, rules.Data, 0o644); err != nil {
		t.Fatal(err)
	}
	// Side by side, as Swarm mounts them and paasd init writes them.
	if err := os.WriteFile(cfgPath, cfg.Data, 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(promtool, "check", "config", cfgPath).CombinedOutput(); err != nil {
		t.Fatalf("promtool check config: %v\n%s\n%s", err, out, cfg.Data)
	}
	out, err := exec.Command(promtool, "check", "rules", rulesPath).CombinedOutput()
	if err != nil || !bytes.Contains(out, []byte("SUCCESS")) {
		t.Fatalf("promtool check rules: %v\n%s", err, out)
	}
	// Grafana reads every dashboard from its provider's folder.
	for _, name := range []string{"dashboard-platform.json", "dashboard-app.json"} {
		if f := byName[name]; f.Role != infra.RoleGrafana || !strings.HasPrefix(f.Target, "/etc/grafana/dashboards/") {
			t.Errorf("%s: role %q target %q", name, f.Role, f.Target)
		}
	}
}

func TestValidateRefusesHostileValues(t *testing.T) {
	for name, mutate := range map[string]func(*Config){
		"email with newline":     func(c *Config) { c.ACMEEmail = "a@b.c\n  insecure: true" },
		"email without at":       func(c *Config) { c.ACMEEmail = "nobody" },
		"network with quote":     func(c *Config) { c.PublicNetwork = `x"y` },
		"instance with backtick": func(c *Config) { c.InstanceID = "a`) || Label(`x" },
		"no retention":           func(c *Config) { c.LokiRetentionDays = 0 },
		"same ports":             func(c *Config) { c.HTTPSPort = c.HTTPPort },
		"missing image":          func(c *Config) { c.Images = map[string]string{} },
	} {
		t.Run(name, func(t *testing.T) {
			c := testConfig()
			mutate(&c)
			if _, err := Render(c); err == nil {
				t.Fatal("rendered; want an error")
			}
		})
	}
}

func TestConfigNameFollowsContent(t *testing.T) {
	a := File{Name: "traefik.yml", Data: []byte("a")}
	b := File{Name: "traefik.yml", Data: []byte("b")}
	if ConfigName("s", a) == ConfigName("s", b) {
		t.Fatal("different contents share a config name")
	}
	if ConfigName("s", a) != ConfigName("s", File{Name: "traefik.yml", Data: []byte("a")}) {
		t.Fatal("same content, different names")
	}
	if got := ConfigName("paas-infra", a); !strings.HasPrefix(got, "paas-infra_traefik-") || len(got) > 64 {
		t.Fatalf("config name %q", got)
	}
}
