// Package spec holds the definitions of an app's spec that the schema, the
// API, the CLI and the reconcilers must agree on: which fields cut a
// release, which names an environment variable may have, and which hostnames
// may be routed. It imports nothing heavier than the standard library and
// golang.org/x/net/idna, so every client can use it.
package spec

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
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

// Release is the part of an app's spec that a release runs, with env in
// clear: a change of any of its fields cuts a new release, and nothing
// else does. It is the one definition of a release: the API decides with
// it whether a write asks for a release, the reconciler fingerprints it,
// and ReleaseColumns ties each field to the paas_apps column whose change
// bumps the app's generation (a store test checks the trigger agrees).
type Release struct {
	Image       string            `json:"image"`
	Command     []string          `json:"command"`
	Port        int32             `json:"port"`
	PlanID      string            `json:"plan_id"`
	HealthCheck *HealthCheck      `json:"health_check,omitempty"`
	Env         map[string]string `json:"env"`
}

// ReleaseColumns maps each field of Release (by JSON name) to the paas_apps
// column that stores it; env lives in paas_env_vars, whose trigger bumps
// env_revision.
var ReleaseColumns = map[string]string{
	"image":        "image",
	"command":      "command",
	"port":         "port",
	"plan_id":      "plan_id",
	"health_check": "health_check",
	"env":          "env_revision",
}

// Canonical encodes r the same way for equal releases: nil and empty
// command or env are one value, and maps marshal with sorted keys.
func (r Release) Canonical() []byte {
	if r.Command == nil {
		r.Command = []string{}
	}
	if r.Env == nil {
		r.Env = map[string]string{}
	}
	b, err := json.Marshal(r)
	if err != nil {
		// Release holds only strings, numbers, slices and maps.
		panic("spec: marshal Release: " + err.Error())
	}
	return b
}

// Equal reports whether two releases run the same thing.
func (r Release) Equal(o Release) bool { return bytes.Equal(r.Canonical(), o.Canonical()) }

// EnvKeyPattern is the rule for environment variable names, also written
// into the paas_env_vars CHECK constraint (a store test compares them).
const EnvKeyPattern = `^[A-Z_][A-Z0-9_]{0,63}$`

// ReservedEnvKey is set by the platform from spec.port; users cannot set it.
const ReservedEnvKey = "PORT"

// MaxEnvKeyLen is the longest variable name EnvKeyPattern accepts.
const MaxEnvKeyLen = 64

var envKeyRE = regexp.MustCompile(EnvKeyPattern)

// CheckEnvKey says what is wrong with a variable name, or returns nil.
func CheckEnvKey(k string) error {
	switch {
	case len(k) > MaxEnvKeyLen:
		return fmt.Errorf("key must be at most %d characters", MaxEnvKeyLen)
	case !envKeyRE.MatchString(k):
		return fmt.Errorf("key must match [A-Z_][A-Z0-9_]*")
	case k == ReservedEnvKey:
		return fmt.Errorf("PORT is reserved: the platform sets it from spec.port")
	}
	return nil
}
