// Package stack renders and deploys the platform's own Swarm stack
// (paas-infra: Traefik, Prometheus, Loki, Promtail, Grafana, cAdvisor).
// Render and DesiredServices are pure; Deployer applies their result to
// Swarm, writing only what differs.
package stack

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"strings"
	"text/template"
	"unicode"

	"github.com/skypanel/paas/deploy"
	"github.com/skypanel/paas/deploy/infra"
	"github.com/skypanel/paas/deploy/loglabels"
)

// Defaults of the names an operator rarely changes (tests change them to
// run beside a real installation).
const (
	// DefaultStack is the stack's name.
	DefaultStack = "paas-infra"
	// DefaultPublicNetwork is the network Traefik reaches the public with and apps by default.
	DefaultPublicNetwork = "paas-public"
	// DefaultInfraNetwork is the network the platform's own services talk on.
	DefaultInfraNetwork = "paas-infrastructure"
)

// Image is one service's image: a setting in paas_settings, with a pinned default.
type Image struct {
	// Role is the service the image runs (infra.RoleTraefik, ...).
	Role string
	// Setting is the paas_settings key that overrides the default.
	Setting string
	// Default is the pinned image used when the setting is unset or empty.
	Default string
}

// Images lists every service's image setting, in deployment order.
var Images = []Image{
	{infra.RoleTraefik, "image_traefik", "traefik:v3.3.5"},
	{infra.RoleLoki, "image_loki", "grafana/loki:3.4.2"},
	{infra.RolePromtail, "image_promtail", "grafana/promtail:3.4.2"},
	{infra.RolePrometheus, "image_prometheus", "prom/prometheus:v2.55.1"},
	{infra.RoleCadvisor, "image_cadvisor", "gcr.io/cadvisor/cadvisor:v0.49.1"},
	{infra.RoleGrafana, "image_grafana", "grafana/grafana:11.6.0"},
}

// RegistryImage is the built-in registry's image (the CNCF distribution
// server), used only when Config.Registry is set.
var RegistryImage = Image{infra.RoleRegistry, "image_registry", "registry:2"}

// DefaultImages maps each role to its pinned default image.
func DefaultImages() map[string]string {
	m := make(map[string]string, len(Images))
	for _, im := range Images {
		m[im.Role] = im.Default
	}
	return m
}

// Config is everything the stack is rendered from.
type Config struct {
	// Stack names the stack; services are "<Stack>_<role>".
	Stack string
	// InstanceID is this installation's id: Traefik routes and Promtail ships only its services.
	InstanceID string
	// PublicNetwork is Traefik's default network to reach apps on.
	PublicNetwork string
	// InfraNetwork is the network the stack's services talk on.
	InfraNetwork string
	// OrgNetworks are the organizations' networks Traefik joins (made by the network loop).
	OrgNetworks []string
	// ACMEEmail is the ACME account email (setting traefik_acme_email); may be empty.
	ACMEEmail string
	// LokiRetentionDays is how long Loki keeps logs (LOKI_RETENTION_DAYS).
	LokiRetentionDays int
	// PaasdMetricsTarget is the host:port Prometheus scrapes paasd's /metrics at.
	PaasdMetricsTarget string
	// HTTPPort and HTTPSPort are the host ports Traefik publishes (80 and 443).
	HTTPPort, HTTPSPort uint32
	// Images maps each role to its image.
	Images map[string]string
	// Registry, when set, adds the built-in image registry service.
	Registry *Registry
}

// Registry is the built-in image registry: one replica pinned to the node
// its data volume lives on, published in host mode (the routing mesh is not
// used) on Port of that node.
type Registry struct {
	// Port is the host port it listens on.
	Port uint32
	// NodeID is the Swarm node it runs on (the manager paasd init ran on).
	NodeID string
	// URL is the registry_url recorded for it: <node address>:<Port>.
	URL string
}

// File is one rendered config file, handed to its service as a Swarm config.
type File struct {
	// Name is the file's name, as written into deploy/generated/.
	Name string
	// Role is the service that reads it.
	Role string
	// Target is where the service reads it.
	Target string
	// Data is the rendered content.
	Data []byte
}

// ConfigName names the Swarm config holding f: a hash of the content is
// part of the name, so a changed file is a new config and only the service
// reading it rolls.
func ConfigName(stack string, f File) string {
	sum := sha256.Sum256(f.Data)
	base := strings.TrimSuffix(f.Name, path.Ext(f.Name))
	return stack + "_" + base + "-" + hex.EncodeToString(sum[:])[:12]
}

// files lists the templates, the service reading each and where.
var files = []struct{ name, role, target string }{
	{"traefik.yml", infra.RoleTraefik, "/etc/traefik/traefik.yml"},
	{"loki.yaml", infra.RoleLoki, "/etc/loki/loki.yaml"},
	{"promtail.yaml", infra.RolePromtail, "/etc/promtail/promtail.yaml"},
	{"prometheus.yml", infra.RolePrometheus, "/etc/prometheus/prometheus.yml"},
	{"grafana-datasources.yaml", infra.RoleGrafana, "/etc/grafana/provisioning/datasources/paas.yaml"},
	{"grafana-dashboards.yaml", infra.RoleGrafana, "/etc/grafana/provisioning/dashboards/paas.yaml"},
}

// staticFiles are handed over as they are in deploy.Static (not templates:
// their own syntax uses {{ }}). A role's first file in files is the one its
// arguments name.
var staticFiles = []struct{ name, src, role, target string }{
	{"alerts.yml", "prometheus/alerts.yml", infra.RolePrometheus, "/etc/prometheus/alerts.yml"},
	{"dashboard-platform.json", "grafana/platform.json", infra.RoleGrafana, "/etc/grafana/dashboards/platform.json"},
	{"dashboard-app.json", "grafana/app.json", infra.RoleGrafana, "/etc/grafana/dashboards/app.json"},
}

// logNames are the label names the Promtail template uses, from package loglabels.
type logNames struct {
	AppID, OrgID, Service, Stream     string
	MetaAppID, MetaOrgID, MetaService string
}

// templateData is what the templates see.
type templateData struct {
	Config
	LokiRetentionHours                               int
	Constraint, InstanceFilter                       string
	CertResolver, EntryPointWeb, EntryPointWebsecure string
	Log                                              logNames
}

// Validate reports the first value that cannot be rendered safely.
func (c Config) Validate() error {
	for _, v := range []struct{ name, value string }{
		{"stack", c.Stack}, {"instance id", c.InstanceID}, {"public network", c.PublicNetwork},
		{"infrastructure network", c.InfraNetwork}, {"paasd metrics target", c.PaasdMetricsTarget},
	} {
		if v.value == "" {
			return fmt.Errorf("%s is empty", v.name)
		}
		if strings.ContainsFunc(v.value, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) || r == '`' || r == '"' }) {
			return fmt.Errorf("%s %q holds spaces, quotes or control characters", v.name, v.value)
		}
	}
	if c.ACMEEmail != "" && (strings.ContainsFunc(c.ACMEEmail, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) || !strings.Contains(c.ACMEEmail, "@")) {
		return fmt.Errorf("traefik_acme_email %q is not an email address", c.ACMEEmail)
	}
	if c.LokiRetentionDays <= 0 {
		return errors.New("LOKI_RETENTION_DAYS must be at least 1")
	}
	if c.HTTPPort == 0 || c.HTTPSPort == 0 || c.HTTPPort == c.HTTPSPort {
		return fmt.Errorf("HTTP and HTTPS ports %d and %d must be two distinct ports", c.HTTPPort, c.HTTPSPort)
	}
	for _, im := range Images {
		if strings.TrimSpace(c.Images[im.Role]) == "" {
			return fmt.Errorf("no image for %s", im.Role)
		}
	}
	if r := c.Registry; r != nil {
		if r.Port == 0 || r.Port == c.HTTPPort || r.Port == c.HTTPSPort || r.NodeID == "" || r.URL == "" {
			return fmt.Errorf("registry: port %d (distinct from HTTP and HTTPS), node %q and url %q are all needed", r.Port, r.NodeID, r.URL)
		}
		if strings.TrimSpace(c.Images[infra.RoleRegistry]) == "" {
			return errors.New("no image for registry")
		}
	}
	return nil
}

// Render renders every config file of the stack from the embedded templates.
func Render(c Config) ([]File, error) {
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("render stack: %w", err)
	}
	data := templateData{
		Config:              c,
		LokiRetentionHours:  c.LokiRetentionDays * 24,
		Constraint:          fmt.Sprintf("Label(`%s`,`%s`)", labelInstance, c.InstanceID),
		InstanceFilter:      labelInstance + "=" + c.InstanceID,
		CertResolver:        infra.CertResolver,
		EntryPointWeb:       infra.EntryPointWeb,
		EntryPointWebsecure: infra.EntryPointWebsecure,
		Log: logNames{
			AppID: loglabels.AppID, OrgID: loglabels.OrgID, Service: loglabels.Service, Stream: loglabels.Stream,
			MetaAppID:   loglabels.DockerMeta(loglabels.ContainerAppID),
			MetaOrgID:   loglabels.DockerMeta(loglabels.ContainerOrgID),
			MetaService: loglabels.DockerMeta(loglabels.ContainerService),
		},
	}
	out := make([]File, 0, len(files))
	for _, f := range files {
		t, err := template.New(f.name+".tmpl").Funcs(template.FuncMap{"quote": quote}).
			Option("missingkey=error").ParseFS(deploy.Templates, "templates/"+f.name+".tmpl")
		if err != nil {
			return nil, fmt.Errorf("parse template %s: %w", f.name, err)
		}
		var buf bytes.Buffer
		if err := t.Execute(&buf, data); err != nil {
			return nil, fmt.Errorf("render %s: %w", f.name, err)
		}
		out = append(out, File{Name: f.name, Role: f.role, Target: f.target, Data: buf.Bytes()})
	}
	for _, f := range staticFiles {
		b, err := deploy.Static.ReadFile(f.src)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", f.src, err)
		}
		out = append(out, File{Name: f.name, Role: f.role, Target: f.target, Data: b})
	}
	return out, nil
}

// quote writes s as a YAML double-quoted scalar (JSON's string syntax is
// YAML's), so no value can change the document's structure.
func quote(s string) string {
	b, _ := json.Marshal(s) // a string always marshals
	return string(b)
}
