// Package loglabels names the Loki labels Promtail puts on container logs,
// so the log API queries exactly what the shipper writes.
package loglabels

import (
	"strconv"
	"strings"
)

// Loki label names on every log line Promtail ships.
const (
	// AppID holds the app's uuid, from the container label paas.app.id.
	AppID = "app_id"
	// OrgID holds the organization's uuid, from the container label paas.org.id.
	OrgID = "org_id"
	// Service holds the Swarm service name.
	Service = "service"
	// Stream is "stdout" or "stderr".
	Stream = "stream"
)

// Container labels the Loki labels come from.
const (
	// ContainerAppID is the container label carrying the app id.
	ContainerAppID = "paas.app.id"
	// ContainerOrgID is the container label carrying the organization id.
	ContainerOrgID = "paas.org.id"
	// ContainerService is the container label Swarm sets to the service name.
	ContainerService = "com.docker.swarm.service.name"
)

// DockerMeta is the Prometheus-style discovery label under which Promtail's
// docker_sd sees a container label (dots and dashes become underscores).
func DockerMeta(containerLabel string) string {
	return "__meta_docker_container_label_" + strings.NewReplacer(".", "_", "-", "_", "/", "_").Replace(containerLabel)
}

// AppSelector is the LogQL stream selector of one app's logs.
func AppSelector(appID string) string {
	return "{" + AppID + "=" + strconv.Quote(appID) + "}"
}
