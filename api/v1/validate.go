package v1

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/skypanel/paas/api/problem"
	"github.com/skypanel/paas/store"
	"github.com/skypanel/paas/store/spec"
)

// Limits of an app spec, beyond what the schema checks.
const (
	maxImageLen       = 512
	maxCommandArgs    = 64
	maxCommandArgLen  = 4096
	maxEnvVars        = 256
	maxEnvValueLen    = 16 << 10
	maxReplicas       = 1000
	defaultReplicas   = 1
	defaultPort       = 8080
	maxHealthCheckArg = 1024
)

var (
	// dnsLabel is the schema's CHECK on app names and organization slugs.
	dnsLabel = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,38}[a-z0-9])?$`)
	// planName is the schema's CHECK on plan names.
	planName = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?$`)
	// healthPath keeps health check paths to characters a shell reads literally.
	healthPath = regexp.MustCompile(`^/[A-Za-z0-9._~/%=+,:@?-]*$`)
)

func fe(field, msg string) problem.FieldError { return problem.FieldError{Field: field, Message: msg} }

// validText reports whether s can be stored and shown as text: valid UTF-8
// without NUL or other control characters but tab.
func validText(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if r == '\t' {
			continue
		}
		if unicode.IsControl(r) {
			return false
		}
	}
	return true
}

func checkName(field, name string) []problem.FieldError {
	if !dnsLabel.MatchString(name) {
		return []problem.FieldError{fe(field, "must be a DNS label: 1 to 40 lowercase letters, digits or '-', starting and ending with a letter or digit")}
	}
	return nil
}

// checkEnv validates env keys and values.
func checkEnv(prefix string, env map[string]string) []problem.FieldError {
	var errs []problem.FieldError
	if len(env) > maxEnvVars {
		errs = append(errs, fe(strings.TrimSuffix(prefix, "."), fmt.Sprintf("at most %d variables", maxEnvVars)))
	}
	for _, k := range sortedKeys(env) {
		errs = append(errs, checkEnvVar(prefix, k, env[k])...)
	}
	return errs
}

func checkEnvVar(prefix, k, v string) []problem.FieldError {
	field := prefix + k
	if !validText(k) {
		field = prefix + "(invalid key)"
	}
	if err := spec.CheckEnvKey(k); err != nil {
		return []problem.FieldError{fe(field, err.Error())}
	}
	switch {
	case len(v) > maxEnvValueLen:
		return []problem.FieldError{fe(field, fmt.Sprintf("value must be at most %d bytes", maxEnvValueLen))}
	case strings.IndexByte(v, 0) >= 0 || !utf8.ValidString(v):
		return []problem.FieldError{fe(field, "value must be UTF-8 text without NUL bytes")}
	}
	return nil
}

func checkCommand(field string, cmd []string) []problem.FieldError {
	if len(cmd) > maxCommandArgs {
		return []problem.FieldError{fe(field, fmt.Sprintf("at most %d arguments", maxCommandArgs))}
	}
	var errs []problem.FieldError
	for i, a := range cmd {
		if len(a) > maxCommandArgLen || strings.IndexByte(a, 0) >= 0 || !utf8.ValidString(a) {
			errs = append(errs, fe(fmt.Sprintf("%s[%d]", field, i), fmt.Sprintf("must be UTF-8 text without NUL bytes, at most %d bytes", maxCommandArgLen)))
		}
	}
	return errs
}

// parseHealthCheck decodes and validates a health check; raw is a JSON
// object (null is handled by the caller).
func parseHealthCheck(field string, raw json.RawMessage) (*store.HealthCheck, []problem.FieldError, error) {
	var hc store.HealthCheck
	if err := decodeStrict(raw, &hc, field+"."); err != nil {
		return nil, nil, err
	}
	var errs []problem.FieldError
	if len(hc.Command) > 32 {
		errs = append(errs, fe(field+".command", "at most 32 arguments"))
	}
	for i, a := range hc.Command {
		if len(a) > maxHealthCheckArg || !validText(a) {
			errs = append(errs, fe(fmt.Sprintf("%s.command[%d]", field, i), fmt.Sprintf("must be text without control characters, at most %d bytes", maxHealthCheckArg)))
		}
	}
	if hc.Path != "" && (len(hc.Path) > maxHealthCheckArg || !healthPath.MatchString(hc.Path)) {
		// The path is pasted into a shell command line (wget through
		// /bin/sh), so it is held to characters the shell reads literally.
		errs = append(errs, fe(field+".path", "must be a URL path starting with / made of letters, digits and . _ ~ / % = + , : @ ? -"))
	}
	if len(errs) == 0 {
		if err := hc.Validate(); err != nil {
			f, msg, ok := strings.Cut(err.Error(), ": ")
			if !ok {
				f, msg = "health_check", err.Error()
			}
			errs = append(errs, fe(strings.Replace(f, "health_check", field, 1), msg))
		}
	}
	if len(errs) > 0 {
		return nil, errs, nil
	}
	return &hc, nil, nil
}

// specInput is an app spec as clients write it (create, or the result of a
// merge patch); absent fields take their defaults.
type specInput struct {
	Image       *string            `json:"image"`
	Replicas    *int64             `json:"replicas"`
	Port        *int64             `json:"port"`
	Env         map[string]*string `json:"env"`
	Command     []string           `json:"command"`
	Plan        *string            `json:"plan"`
	HealthCheck json.RawMessage    `json:"health_check"`
	Stopped     *bool              `json:"stopped"`
	Domains     []string           `json:"domains"`
	// Source builds the app from git instead of image; only when the app
	// is created (PUT …/source changes it later).
	Source json.RawMessage `json:"source"`
}

// parsedSpec is a decoded spec whose plan is still a name.
type parsedSpec struct {
	desired
	PlanName string // empty: the default plan
	// Source is spec.source, not yet checked (checkSource), nil when absent.
	Source *sourceRequest
}

// parseSpec decodes a spec document strictly and checks every field that
// needs no database; field paths start with "spec.". A non-nil error is a
// problem to answer; the field errors are collected to be answered
// together with those found later (plan, replicas).
func parseSpec(raw []byte) (parsedSpec, []problem.FieldError, error) {
	var in specInput
	if err := decodeStrict(raw, &in, "spec."); err != nil {
		return parsedSpec{}, nil, err
	}
	var errs []problem.FieldError
	var out parsedSpec
	if len(in.Source) > 0 && !bytes.Equal(bytes.TrimSpace(in.Source), []byte("null")) {
		var src sourceRequest
		if err := decodeStrict(in.Source, &src, "spec.source."); err != nil {
			return parsedSpec{}, nil, err
		}
		out.Source = &src
	}
	switch {
	case in.Image == nil && out.Source == nil:
		errs = append(errs, fe("spec.image", "is required (or spec.source, to build the app from git)"))
	case in.Image != nil && out.Source != nil:
		errs = append(errs, fe("spec.source", "is exclusive with spec.image: an app runs an image or is built from source"))
	case in.Image != nil:
		out.Image = *in.Image
		errs = append(errs, checkImage("spec.image", out.Image)...)
	}
	out.Replicas = defaultReplicas
	if in.Replicas != nil {
		if *in.Replicas < 0 || *in.Replicas > maxReplicas {
			errs = append(errs, fe("spec.replicas", fmt.Sprintf("must be between 0 and %d", maxReplicas)))
		} else {
			out.Replicas = int32(*in.Replicas)
		}
	}
	out.Port = defaultPort
	if in.Port != nil {
		if *in.Port < 1 || *in.Port > 65535 {
			errs = append(errs, fe("spec.port", "must be between 1 and 65535"))
		} else {
			out.Port = int32(*in.Port)
		}
	}
	out.Env = map[string]string{}
	for k, v := range in.Env {
		if v == nil {
			errs = append(errs, fe("spec.env."+k, "must be a string (remove a variable by leaving it out)"))
			continue
		}
		out.Env[k] = *v
	}
	errs = append(errs, checkEnv("spec.env.", out.Env)...)
	out.Command = in.Command
	if out.Command == nil {
		out.Command = []string{}
	}
	errs = append(errs, checkCommand("spec.command", out.Command)...)
	if in.Plan != nil {
		out.PlanName = *in.Plan
		if !planName.MatchString(out.PlanName) {
			errs = append(errs, fe("spec.plan", "is not a plan name"))
		}
	}
	if len(in.HealthCheck) > 0 && !bytes.Equal(bytes.TrimSpace(in.HealthCheck), []byte("null")) {
		hc, herrs, err := parseHealthCheck("spec.health_check", in.HealthCheck)
		if err != nil {
			return parsedSpec{}, nil, err
		}
		errs = append(errs, herrs...)
		out.HealthCheck = hc
	}
	if in.Stopped != nil {
		out.Stopped = *in.Stopped
	}
	domains, derrs := parseDomains("spec.domains", in.Domains)
	out.Domains = domains
	errs = append(errs, derrs...)
	return out, errs, nil
}
