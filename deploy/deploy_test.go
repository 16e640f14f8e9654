package deploy

import (
	"encoding/json"
	"reflect"
	"testing"
)

func TestMetricNames(t *testing.T) {
	for expr, want := range map[string][]string{
		`sum by (controller, result) (rate(paas_reconcile_total{result="error", x=~"a|b"}[5m])) > 0.05`:                                       {"paas_reconcile_total"},
		`(max by (controller) (paas_workqueue_depth) > 0) unless on (controller) (sum by (controller) (rate(paas_reconcile_total[10m])) > 0)`: {"paas_reconcile_total", "paas_workqueue_depth"},
		`histogram_quantile(0.95, sum by (le, route) (rate(paas_http_request_duration_seconds_bucket[$__rate_interval])))`:                    {"paas_http_request_duration_seconds_bucket"},
		`(sum(paas_leader{job="paasd"}) < 1) or absent(paas_leader{job="paasd"})`:                                                             {"paas_leader"},
		`label_values(container_cpu_usage_seconds_total, container_label_paas_app_id)`:                                                        {"container_cpu_usage_seconds_total"},
		`sum(rate(x_total[1m])) * 60 + 1e3`: {"x_total"},
	} {
		if got := MetricNames(expr); !reflect.DeepEqual(got, want) {
			t.Errorf("MetricNames(%s) = %v, want %v", expr, got, want)
		}
	}
}

// TestDashboardsAreValid: every dashboard is JSON Grafana can provision
// (uid, title, panels with targets on the provisioned datasources).
// Whether each metric exists is checked against a live paasd in
// cmd/paasd's TestObservability.
func TestDashboardsAreValid(t *testing.T) {
	for _, name := range Dashboards {
		b, err := Static.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		var d struct {
			UID    string `json:"uid"`
			Title  string `json:"title"`
			Panels []struct {
				ID         int                  `json:"id"`
				Title      string               `json:"title"`
				Datasource struct{ UID string } `json:"datasource"`
				Targets    []struct {
					Expr string `json:"expr"`
				} `json:"targets"`
			} `json:"panels"`
		}
		if err := json.Unmarshal(b, &d); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if d.UID == "" || d.Title == "" || len(d.Panels) == 0 {
			t.Fatalf("%s: uid %q title %q, %d panels", name, d.UID, d.Title, len(d.Panels))
		}
		ids := map[int]bool{}
		for _, p := range d.Panels {
			if ids[p.ID] || len(p.Targets) == 0 {
				t.Errorf("%s: panel %q: duplicate id or no targets", name, p.Title)
			}
			ids[p.ID] = true
			if p.Datasource.UID != "paas-prometheus" && p.Datasource.UID != "paas-loki" {
				t.Errorf("%s: panel %q on datasource %q", name, p.Title, p.Datasource.UID)
			}
			for _, tg := range p.Targets {
				if tg.Expr == "" {
					t.Errorf("%s: panel %q has an empty query", name, p.Title)
				}
			}
		}
	}
}
