package store

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"github.com/skypanel/paas/store/spec"
	"strings"
)

// HealthCheck is the app spec's health check; see spec.HealthCheck.
type HealthCheck = spec.HealthCheck

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
