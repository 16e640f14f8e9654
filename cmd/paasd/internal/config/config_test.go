package config

import (
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

const goodKey = "0000000000000000000000000000000000000000000000000000000000000001"

func TestLoadDefaults(t *testing.T) {
	t.Parallel()
	cfg, err := Load(env(map[string]string{
		"DATABASE_URL": "postgres://x", "JWT_SECRET": strings.Repeat("j", 32), "ENCRYPTION_KEY": goodKey,
	}), ForServe)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Listen != ":8080" || cfg.LogLevel != zerolog.InfoLevel || cfg.RolloutDeadline != 5*time.Minute ||
		cfg.Workers != 4 || cfg.PublicNetwork != "paas-public" || len(cfg.EncryptionKey) != 32 ||
		cfg.PrometheusAppLabel != "container_label_paas_app_id" || cfg.MetricsListen != "" || cfg.PrometheusURL != "" {
		t.Fatalf("unexpected defaults: %+v", cfg)
	}
}

func TestLoadNamesEveryMissingVariable(t *testing.T) {
	t.Parallel()
	_, err := Load(env(map[string]string{"JWT_SECRET": strings.Repeat("j", 32)}), ForServe)
	var missing *MissingError
	if !errors.As(err, &missing) {
		t.Fatalf("err = %v, want MissingError", err)
	}
	if strings.Join(missing.Names, ",") != "DATABASE_URL,ENCRYPTION_KEY" {
		t.Fatalf("missing = %v", missing.Names)
	}
	if !strings.Contains(err.Error(), "DATABASE_URL (Postgres connection string)") {
		t.Fatalf("error does not explain the variable: %v", err)
	}
}

func TestLoadRejectsBadValues(t *testing.T) {
	t.Parallel()
	_, err := Load(env(map[string]string{
		"DATABASE_URL": "postgres://x", "JWT_SECRET": "short", "ENCRYPTION_KEY": "nope",
		"LOG_LEVEL": "loud", "PAAS_RESYNC_INTERVAL": "often", "PAAS_WORKERS": "-1",
		"PAAS_TRUSTED_PROXIES": "traefik", "PAAS_MAX_ORPHAN_SHARE": "2", "PAAS_TASK_LOG_MAX_SIZE": "huge", "PAAS_TASK_PIDS_LIMIT": "0", "PAAS_DNS_RESOLVER": "8.8.8.8",
		"LOKI_ENDPOINT": "loki:3100", "VITE_PROMETHEUS_URL": "ftp://prom", "VITE_PROMETHEUS_APP_LABEL": "paas.app.id", "PAAS_METRICS_LISTEN": "9100",
	}), ForServe)
	if err == nil {
		t.Fatal("bad values accepted")
	}
	for _, want := range []string{"JWT_SECRET", "ENCRYPTION_KEY", "LOG_LEVEL", "PAAS_RESYNC_INTERVAL", "PAAS_WORKERS",
		"PAAS_TRUSTED_PROXIES", "PAAS_MAX_ORPHAN_SHARE", "PAAS_TASK_LOG_MAX_SIZE", "PAAS_TASK_PIDS_LIMIT", "PAAS_DNS_RESOLVER",
		"LOKI_ENDPOINT", "VITE_PROMETHEUS_URL", "VITE_PROMETHEUS_APP_LABEL", "PAAS_METRICS_LISTEN"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not name %s: %v", want, err)
		}
	}
}

func TestMigrateNeedsOnlyTheDatabase(t *testing.T) {
	t.Parallel()
	if _, err := Load(env(map[string]string{"DATABASE_URL": "postgres://x"}), ForMigrate); err != nil {
		t.Fatal(err)
	}
}

// TestEveryVariableIsDocumented keeps the README's configuration table and
// .env.example in step with what Load reads.
func TestEveryVariableIsDocumented(t *testing.T) {
	t.Parallel()
	for _, doc := range []string{"../../../../README.md", "../../../../.env.example"} {
		b, err := os.ReadFile(doc)
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range Vars {
			if !strings.Contains(string(b), v.Name) {
				t.Errorf("%s does not document %s", doc, v.Name)
			}
		}
	}
}
