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

// Levels are the level filter's values, least severe first.
var Levels = []string{"debug", "info", "warn", "error"}

// levelWords are the words that mark a line of each level or above; a
// line matches a level filter when it holds one of them as a word, in any
// case (`level=error`, `[ERROR]`, `"level":"warn"`).
var levelWords = map[string]string{
	"info":  "info|notice|warn|warning|error|err|fatal|panic|crit|critical",
	"warn":  "warn|warning|error|err|fatal|panic|crit|critical",
	"error": "error|err|fatal|panic|crit|critical",
}

// LevelPattern is the RE2 expression a line of level or above matches, the
// same in LogQL (`|~`) and in Go's regexp; "" for debug (every line). ok
// is false for an unknown level.
func LevelPattern(level string) (pattern string, ok bool) {
	if level == "debug" {
		return "", true
	}
	w, ok := levelWords[level]
	if !ok {
		return "", false
	}
	return `(?i)\b(` + w + `)\b`, true
}

// Filter narrows one app's log lines.
type Filter struct {
	// Stream is "stdout" or "stderr"; empty for both.
	Stream string
	// Contains keeps lines holding this text (case-sensitive).
	Contains string
	// Level keeps lines of this level or above (see LevelPattern); empty for all.
	Level string
}

// Query is the LogQL query the log API sends Loki for one app's lines:
// the app's stream selector, the stream label, then line filters. Values
// are quoted, so no filter text can change the query's shape.
func Query(appID string, f Filter) string {
	var b strings.Builder
	b.WriteString("{" + AppID + "=" + strconv.Quote(appID))
	if f.Stream != "" {
		b.WriteString(", " + Stream + "=" + strconv.Quote(f.Stream))
	}
	b.WriteString("}")
	if f.Contains != "" {
		b.WriteString(" |= " + strconv.Quote(f.Contains))
	}
	if p, ok := LevelPattern(f.Level); ok && p != "" {
		b.WriteString(" |~ " + strconv.Quote(p))
	}
	return b.String()
}
