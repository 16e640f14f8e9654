package store

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
)

// HealthCheck is the app spec's health check, stored as JSON in
// paas_apps.health_check and rendered into the Swarm service's healthcheck.
type HealthCheck struct {
	// Command runs inside the container (exec form); exit 0 means healthy.
	Command []string `json:"command,omitempty"`
	// Path, when Command is empty, is an HTTP path probed on the app's port
	// with wget through /bin/sh (images without a shell must use Command).
	Path string `json:"path,omitempty"`
	// IntervalSeconds between probes (default 10).
	IntervalSeconds int `json:"interval_seconds,omitempty"`
	// TimeoutSeconds for one probe (default 5).
	TimeoutSeconds int `json:"timeout_seconds,omitempty"`
	// Retries before the task counts as unhealthy (default 3).
	Retries int `json:"retries,omitempty"`
	// StartPeriodSeconds during which failures do not count (default 0).
	StartPeriodSeconds int `json:"start_period_seconds,omitempty"`
}

// Validate reports the first problem of a health check, naming the field.
func (h HealthCheck) Validate() error {
	switch {
	case len(h.Command) == 0 && h.Path == "":
		return fmt.Errorf("health_check: set command or path")
	case len(h.Command) > 0 && h.Path != "":
		return fmt.Errorf("health_check: set command or path, not both")
	case h.Path != "" && !strings.HasPrefix(h.Path, "/"):
		return fmt.Errorf("health_check.path: must start with /")
	case h.IntervalSeconds < 0 || h.IntervalSeconds > 3600:
		return fmt.Errorf("health_check.interval_seconds: must be between 0 and 3600")
	case h.TimeoutSeconds < 0 || h.TimeoutSeconds > 3600:
		return fmt.Errorf("health_check.timeout_seconds: must be between 0 and 3600")
	case h.Retries < 0 || h.Retries > 100:
		return fmt.Errorf("health_check.retries: must be between 0 and 100")
	case h.StartPeriodSeconds < 0 || h.StartPeriodSeconds > 3600:
		return fmt.Errorf("health_check.start_period_seconds: must be between 0 and 3600")
	}
	return nil
}

// ParseHealthCheck decodes a stored health check; nil when none is set.
func ParseHealthCheck(raw []byte) (*HealthCheck, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var h HealthCheck
	if err := json.Unmarshal(raw, &h); err != nil {
		return nil, fmt.Errorf("decode health check: %w", err)
	}
	return &h, nil
}

// ReleaseSpec is the snapshot of an app's spec a deployment records
// (paas_deployments.spec): everything a release runs, so a rollback to a
// version can recreate it exactly. Env values stay sealed.
type ReleaseSpec struct {
	// Image is the reference the user asked for.
	Image string `json:"image"`
	// Command overrides the image's default arguments when non-empty.
	Command []string `json:"command"`
	// Port is the port the app listens on.
	Port int32 `json:"port"`
	// PlanID is the plan whose resources the release runs with.
	PlanID string `json:"plan_id"`
	// PlanName is the plan's name when the release was cut, for display.
	PlanName string `json:"plan_name"`
	// HealthCheck is the app's health check, nil for none.
	HealthCheck *HealthCheck `json:"health_check,omitempty"`
	// Env maps each variable to its sealed value (AES-256-GCM, see package secret).
	Env map[string][]byte `json:"env"`
	// Fingerprint is a keyed hash of the release-relevant spec with env in
	// clear; equal fingerprints mean the same release.
	Fingerprint string `json:"fingerprint"`
}

// ServiceNameFor names the Swarm service of an app: readable, at most 63
// characters (a DNS label), and suffixed at random so two organizations or
// two installations sharing a Swarm never claim the same name.
func ServiceNameFor(orgSlug, appName string) string {
	if len(orgSlug) > 20 {
		orgSlug = strings.TrimRight(orgSlug[:20], "-")
	}
	if len(appName) > 34 {
		appName = strings.TrimRight(appName[:34], "-")
	}
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	return orgSlug + "-" + appName + "-" + hex.EncodeToString(b)
}

// SpecParams returns the parameters that rewrite an app's spec unchanged,
// at the version it was read: the starting point of a read-modify-write.
func SpecParams(a App) UpdateAppSpecParams {
	return UpdateAppSpecParams{
		ID: a.ID, Version: a.Version, Image: a.Image, Replicas: a.Replicas, Port: a.Port,
		Command: a.Command, PlanID: a.PlanID, HealthCheck: a.HealthCheck, Stopped: a.Stopped,
	}
}
