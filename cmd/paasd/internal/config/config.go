// Package config reads paasd's configuration from the environment, with the
// variable names of the admin guide, and explains what is missing or wrong.
package config

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/rs/zerolog"

	v1 "github.com/skypanel/paas/api/v1"
	"github.com/skypanel/paas/store/secret"
)

// Config is paasd's configuration; Load fills it from the environment.
type Config struct {
	// DatabaseURL is the Postgres connection string (DATABASE_URL).
	DatabaseURL string
	// JWTSecret signs login tokens (JWT_SECRET, at least 32 characters).
	JWTSecret string
	// EncryptionKey seals secrets at rest (ENCRYPTION_KEY, 32 bytes, hex or base64).
	EncryptionKey []byte
	// EncryptionKeyPrevious are keys that sealed secrets before a rotation
	// (ENCRYPTION_KEY_PREVIOUS, comma-separated, optional): they open, never seal.
	EncryptionKeyPrevious [][]byte
	// LokiEndpoint is where logs are shipped and read (LOKI_ENDPOINT, optional).
	LokiEndpoint string
	// LokiRetentionDays bounds log retention (LOKI_RETENTION_DAYS, default 7).
	LokiRetentionDays int
	// PrometheusURL is the Prometheus HTTP API per-app metrics are read from
	// (VITE_PROMETHEUS_URL, optional: without it the metrics route answers 503).
	PrometheusURL string
	// PrometheusAppLabel is the series label holding an app's id
	// (VITE_PROMETHEUS_APP_LABEL, default container_label_paas_app_id: cAdvisor's
	// name for the container label paas.app.id).
	PrometheusAppLabel string
	// Listen is the HTTP listen address (PAAS_LISTEN, default :8080).
	Listen string
	// MetricsListen, when set, serves /metrics there and not on Listen (PAAS_METRICS_LISTEN).
	MetricsListen string
	// LogLevel is the minimum level logged (LOG_LEVEL, default info).
	LogLevel zerolog.Level
	// InstanceID names this installation on a shared Swarm (PAAS_INSTANCE_ID);
	// empty means the id stored in paas_settings, created on first start.
	InstanceID string
	// PublicNetwork is the overlay network of the platform's own services, Traefik's among them
	// (PAAS_PUBLIC_NETWORK, default paas-public); apps join their organization's network instead.
	PublicNetwork string
	// ResyncInterval is the period of full resyncs (PAAS_RESYNC_INTERVAL, default 30s).
	ResyncInterval time.Duration
	// RolloutDeadline bounds one rollout (PAAS_ROLLOUT_DEADLINE, default 5m).
	RolloutDeadline time.Duration
	// UpdateMonitor is Swarm's update monitor window (PAAS_UPDATE_MONITOR, default 10s).
	UpdateMonitor time.Duration
	// BuildLease is the lease of a running build (PAAS_BUILD_LEASE, default 30s).
	BuildLease time.Duration
	// Workers is the number of reconcile workers per controller (PAAS_WORKERS, default 4).
	Workers int
	// PollInterval is how often a moving app is looked at again (PAAS_POLL_INTERVAL, default 1s).
	PollInterval time.Duration
	// LeaderCheckInterval is how often the leader confirms its lock (PAAS_LEADER_CHECK_INTERVAL, default 2s).
	LeaderCheckInterval time.Duration
	// LeaderRetryInterval is how often a follower tries to take the lock (PAAS_LEADER_RETRY_INTERVAL, default 2s).
	LeaderRetryInterval time.Duration
	// DebugListen, when set, serves Go's pprof profiles there (PAAS_DEBUG_LISTEN, off by default).
	DebugListen string
	// MaxOrphanShare is the largest share of the installation's services removed as
	// orphans in one pass (PAAS_MAX_ORPHAN_SHARE, default 0.25).
	MaxOrphanShare float64
	// TaskPidsLimit caps the processes of each app task (PAAS_TASK_PIDS_LIMIT, default 512).
	TaskPidsLimit int
	// TaskLogMaxSize bounds one json-file log of a task (PAAS_TASK_LOG_MAX_SIZE, default 10m).
	TaskLogMaxSize string
	// TaskLogMaxFiles is how many log files a task keeps (PAAS_TASK_LOG_MAX_FILES, default 3).
	TaskLogMaxFiles int
	// DNSResolver is the DNS server (host:port) asked for domains' proofs of
	// ownership (PAAS_DNS_RESOLVER; the system's resolver when empty).
	DNSResolver string
	// TrustedProxies are the reverse proxies whose X-Forwarded-For names the client (PAAS_TRUSTED_PROXIES).
	TrustedProxies []netip.Prefix
	// AllowMassOrphanRemoval lifts MaxOrphanShare; set by serve's --allow-mass-orphan-removal, not the environment.
	AllowMassOrphanRemoval bool
}

// Var describes one environment variable paasd reads.
type Var struct {
	// Name is the variable's name.
	Name string
	// Default is used when the variable is unset; empty for required ones.
	Default string
	// Help says what the variable does, for docs and errors.
	Help string
}

// Vars lists every variable Load reads, in documentation order.
var Vars = []Var{
	{"DATABASE_URL", "", "Postgres connection string"},
	{"JWT_SECRET", "", "secret that signs login tokens, at least 32 characters"},
	{"ENCRYPTION_KEY", "", "32-byte key sealing secrets at rest, as 64 hex characters or base64"},
	{"ENCRYPTION_KEY_PREVIOUS", "", "keys that sealed secrets before a key rotation, comma-separated; they open values, never seal (optional)"},
	{"LOKI_ENDPOINT", "", "Loki base URL for app logs (optional)"},
	{"LOKI_RETENTION_DAYS", "7", "days of logs Loki keeps"},
	{"VITE_PROMETHEUS_URL", "", "Prometheus base URL the per-app metrics route queries (optional; the route answers 503 without it)"},
	{"VITE_PROMETHEUS_APP_LABEL", "container_label_paas_app_id", "series label holding an app's id in Prometheus (cAdvisor's name for the container label paas.app.id)"},
	{"PAAS_LISTEN", ":8080", "HTTP listen address"},
	{"PAAS_METRICS_LISTEN", "", "address serving GET /metrics instead of PAAS_LISTEN (keep it private); on PAAS_LISTEN when empty"},
	{"LOG_LEVEL", "info", "trace, debug, info, warn or error"},
	{"PAAS_INSTANCE_ID", "", "installation id on a shared Swarm (default: generated once and stored)"},
	{"PAAS_PUBLIC_NETWORK", "paas-public", "overlay network of the platform's own services (Traefik); each organization's apps get a network of their own"},
	{"PAAS_RESYNC_INTERVAL", "30s", "period of full resyncs against Swarm"},
	{"PAAS_ROLLOUT_DEADLINE", "5m", "time a rollout may take before it is failed"},
	{"PAAS_UPDATE_MONITOR", "10s", "Swarm update monitor window after each task update"},
	{"PAAS_BUILD_LEASE", "30s", "lease of a running build; a build whose runner died is retried this long after its last renewal"},
	{"PAAS_TASK_PIDS_LIMIT", "512", "most processes one app task may run"},
	{"PAAS_TASK_LOG_MAX_SIZE", "10m", "size of one json-file log of an app task before it rotates"},
	{"PAAS_TASK_LOG_MAX_FILES", "3", "rotated log files an app task keeps"},
	{"PAAS_TRUSTED_PROXIES", "", "addresses or CIDR ranges of the reverse proxies (Traefik) whose X-Forwarded-For names the client; none by default"},
	{"PAAS_DNS_RESOLVER", "", "DNS server (host:port) asked for custom domains' TXT proofs of ownership; the system's resolver when empty"},
	{"PAAS_MAX_ORPHAN_SHARE", "0.25", "largest share of this installation's services removed as orphans (no app row) in one pass; above it none are"},
	{"PAAS_WORKERS", "4", "reconcile workers per controller"},
	{"PAAS_POLL_INTERVAL", "1s", "how often an app that is still moving is looked at again"},
	{"PAAS_LEADER_CHECK_INTERVAL", "2s", "how often the leader confirms its Postgres lock"},
	{"PAAS_LEADER_RETRY_INTERVAL", "2s", "how often a follower tries to become leader"},
	{"PAAS_DEBUG_LISTEN", "", "address serving /debug/pprof (off when empty; keep it on loopback)"},
}

// Requirement names a set of variables a command cannot run without.
type Requirement []string

// Requirements of paasd's commands.
var (
	// ForMigrate is what `paasd migrate` needs.
	ForMigrate = Requirement{"DATABASE_URL"}
	// ForSeed is what `paasd seed-admin` needs.
	ForSeed = Requirement{"DATABASE_URL"}
	// ForInit is what `paasd init` needs: it seals the join tokens.
	ForInit = Requirement{"DATABASE_URL", "ENCRYPTION_KEY"}
	// ForRotateKey is what `paasd rotate-key` needs.
	ForRotateKey = Requirement{"DATABASE_URL", "ENCRYPTION_KEY"}
	// ForServe is what `paasd serve` needs.
	ForServe = Requirement{"DATABASE_URL", "JWT_SECRET", "ENCRYPTION_KEY"}
)

// MissingError names every required variable that is unset.
type MissingError struct {
	// Names are the unset variables, sorted.
	Names []string
}

func (e *MissingError) Error() string {
	help := make([]string, 0, len(e.Names))
	for _, n := range e.Names {
		help = append(help, fmt.Sprintf("%s (%s)", n, helpOf(n)))
	}
	return "missing required environment variable(s): " + strings.Join(help, ", ") + "; see .env.example"
}

func helpOf(name string) string {
	for _, v := range Vars {
		if v.Name == name {
			return v.Help
		}
	}
	return ""
}

// Load reads the configuration through getenv (os.Getenv in production),
// failing with every problem found when a required variable is unset or a
// value does not parse.
func Load(getenv func(string) string, req Requirement) (Config, error) {
	get := func(name string) string {
		if v := strings.TrimSpace(getenv(name)); v != "" {
			return v
		}
		for _, v := range Vars {
			if v.Name == name {
				return v.Default
			}
		}
		return ""
	}
	var missing []string
	for _, name := range req {
		if get(name) == "" {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		return Config{}, &MissingError{Names: missing}
	}

	var errs []error
	cfg := Config{
		DatabaseURL:        get("DATABASE_URL"),
		JWTSecret:          get("JWT_SECRET"),
		LokiEndpoint:       get("LOKI_ENDPOINT"),
		Listen:             get("PAAS_LISTEN"),
		MetricsListen:      get("PAAS_METRICS_LISTEN"),
		PrometheusURL:      get("VITE_PROMETHEUS_URL"),
		PrometheusAppLabel: get("VITE_PROMETHEUS_APP_LABEL"),
		InstanceID:         get("PAAS_INSTANCE_ID"),
		PublicNetwork:      get("PAAS_PUBLIC_NETWORK"),
		DebugListen:        get("PAAS_DEBUG_LISTEN"),
		DNSResolver:        get("PAAS_DNS_RESOLVER"),
	}
	if cfg.DNSResolver != "" {
		if _, _, err := net.SplitHostPort(cfg.DNSResolver); err != nil {
			errs = append(errs, fmt.Errorf("PAAS_DNS_RESOLVER %q: want host:port, such as 127.0.0.1:53", cfg.DNSResolver))
		}
	}
	for _, u := range []struct{ name, value string }{{"LOKI_ENDPOINT", cfg.LokiEndpoint}, {"VITE_PROMETHEUS_URL", cfg.PrometheusURL}} {
		if u.value == "" {
			continue
		}
		if pu, err := url.Parse(u.value); err != nil || (pu.Scheme != "http" && pu.Scheme != "https") || pu.Host == "" {
			errs = append(errs, fmt.Errorf("%s %q: want an http(s) URL such as http://loki:3100", u.name, u.value))
		}
	}
	if !promLabelRE.MatchString(cfg.PrometheusAppLabel) {
		errs = append(errs, fmt.Errorf("VITE_PROMETHEUS_APP_LABEL %q: want a Prometheus label name", cfg.PrometheusAppLabel))
	}
	if cfg.MetricsListen != "" {
		if _, _, err := net.SplitHostPort(cfg.MetricsListen); err != nil {
			errs = append(errs, fmt.Errorf("PAAS_METRICS_LISTEN %q: want host:port, such as 127.0.0.1:9100", cfg.MetricsListen))
		}
	}
	if cfg.JWTSecret != "" && len(cfg.JWTSecret) < 32 {
		errs = append(errs, errors.New("JWT_SECRET must be at least 32 characters"))
	}
	if k := get("ENCRYPTION_KEY"); k != "" {
		key, err := secret.ParseKey(k)
		if err != nil {
			errs = append(errs, err)
		}
		cfg.EncryptionKey = key
	}
	prev, perr := secret.ParseKeys(get("ENCRYPTION_KEY_PREVIOUS"))
	if perr != nil {
		errs = append(errs, fmt.Errorf("ENCRYPTION_KEY_PREVIOUS: %w", perr))
	}
	cfg.EncryptionKeyPrevious = prev
	level, err := zerolog.ParseLevel(strings.ToLower(get("LOG_LEVEL")))
	if err != nil || level == zerolog.NoLevel {
		errs = append(errs, fmt.Errorf("LOG_LEVEL %q: want trace, debug, info, warn or error", get("LOG_LEVEL")))
	}
	cfg.LogLevel = level
	cfg.LokiRetentionDays = parsePositiveInt(get, "LOKI_RETENTION_DAYS", &errs)
	cfg.Workers = parsePositiveInt(get, "PAAS_WORKERS", &errs)
	cfg.ResyncInterval = parseDuration(get, "PAAS_RESYNC_INTERVAL", &errs)
	cfg.RolloutDeadline = parseDuration(get, "PAAS_ROLLOUT_DEADLINE", &errs)
	cfg.UpdateMonitor = parseDuration(get, "PAAS_UPDATE_MONITOR", &errs)
	cfg.PollInterval = parseDuration(get, "PAAS_POLL_INTERVAL", &errs)
	cfg.BuildLease = parseDuration(get, "PAAS_BUILD_LEASE", &errs)
	cfg.LeaderCheckInterval = parseDuration(get, "PAAS_LEADER_CHECK_INTERVAL", &errs)
	cfg.LeaderRetryInterval = parseDuration(get, "PAAS_LEADER_RETRY_INTERVAL", &errs)
	cfg.TaskPidsLimit = parsePositiveInt(get, "PAAS_TASK_PIDS_LIMIT", &errs)
	cfg.TaskLogMaxFiles = parsePositiveInt(get, "PAAS_TASK_LOG_MAX_FILES", &errs)
	cfg.TaskLogMaxSize = get("PAAS_TASK_LOG_MAX_SIZE")
	if !logSizeRE.MatchString(cfg.TaskLogMaxSize) {
		errs = append(errs, fmt.Errorf("PAAS_TASK_LOG_MAX_SIZE %q: want a size such as 10m, 512k or 1g", cfg.TaskLogMaxSize))
	}
	if cfg.TrustedProxies, err = v1.ParseTrustedProxies(get("PAAS_TRUSTED_PROXIES")); err != nil {
		errs = append(errs, fmt.Errorf("PAAS_TRUSTED_PROXIES: %w", err))
	}
	cfg.MaxOrphanShare, err = strconv.ParseFloat(get("PAAS_MAX_ORPHAN_SHARE"), 64)
	if err != nil || !(cfg.MaxOrphanShare > 0 && cfg.MaxOrphanShare <= 1) {
		errs = append(errs, fmt.Errorf("PAAS_MAX_ORPHAN_SHARE %q: want a share between 0 (exclusive) and 1, such as 0.25", get("PAAS_MAX_ORPHAN_SHARE")))
	}
	if err := errors.Join(errs...); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

// promLabelRE is Prometheus's label name syntax.
var promLabelRE = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)

// logSizeRE is the json-file driver's max-size syntax.
var logSizeRE = regexp.MustCompile(`^[1-9][0-9]{0,8}[kmg]?$`)

func parsePositiveInt(get func(string) string, name string, errs *[]error) int {
	n, err := strconv.Atoi(get(name))
	if err != nil || n <= 0 {
		*errs = append(*errs, fmt.Errorf("%s %q: want a positive integer", name, get(name)))
	}
	return n
}

func parseDuration(get func(string) string, name string, errs *[]error) time.Duration {
	d, err := time.ParseDuration(get(name))
	if err != nil || d <= 0 {
		*errs = append(*errs, fmt.Errorf("%s %q: want a positive duration such as 30s or 5m", name, get(name)))
	}
	return d
}
