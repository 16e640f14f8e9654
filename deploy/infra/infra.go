// Package infra names what other code shares with the platform's own stack
// (paas-infra): the labels that find its services and Traefik's entry points
// and certificate resolver, which the domain loop's router labels refer to.
package infra

const (
	// LabelRole names the part a service plays in the stack ("traefik", "loki", ...).
	LabelRole = "paas.infra.role"
	// LabelStack is the label `docker stack` uses to group a stack's objects.
	LabelStack = "com.docker.stack.namespace"
	// LabelSpecHash holds the hash of the rendered spec, so an unchanged spec is never rewritten.
	LabelSpecHash = "paas.spec-hash"
	// LabelFile names the rendered file a Swarm config carries.
	LabelFile = "paas.infra.file"
	// LabelNetwork marks the platform networks paasd init created ("true").
	LabelNetwork = "paas.infra.network"
)

// Roles of the stack's services; each also names the service inside the stack
// and is its DNS alias on the stack's networks.
const (
	// RoleTraefik is the reverse proxy routing apps.
	RoleTraefik = "traefik"
	// RolePrometheus collects metrics.
	RolePrometheus = "prometheus"
	// RoleLoki stores logs.
	RoleLoki = "loki"
	// RolePromtail ships every node's container logs to Loki.
	RolePromtail = "promtail"
	// RoleGrafana shows metrics and logs.
	RoleGrafana = "grafana"
	// RoleCadvisor exports every node's container metrics.
	RoleCadvisor = "cadvisor"
	// RoleRegistry is the built-in image registry builds push to, present
	// only while the registry_url setting names no external one.
	RoleRegistry = "registry"
)

// LabelRegistryURL, on the built-in registry's service, is the registry_url
// paasd init recorded for it: a registry_url equal to it is the built-in one.
const LabelRegistryURL = "paas.infra.registry-url"

// Traefik's static names that routers refer to.
const (
	// CertResolver is the ACME certificate resolver (`tls.certresolver=letsencrypt`).
	CertResolver = "letsencrypt"
	// EntryPointWeb is the plain HTTP entry point (:80).
	EntryPointWeb = "web"
	// EntryPointWebsecure is the HTTPS entry point (:443).
	EntryPointWebsecure = "websecure"
)
