package v1

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"

	"github.com/sqlc-dev/pqtype"

	"github.com/skypanel/paas/store"
	"github.com/skypanel/paas/store/secret"
	"github.com/skypanel/paas/store/spec"
)

// desired is an app's spec in Go terms, env in clear.
type desired struct {
	Image       string
	Replicas    int32
	Port        int32
	Command     []string
	Plan        store.Plan
	HealthCheck *store.HealthCheck
	Stopped     bool
	Env         map[string]string
	// Domains are the custom hostnames, normalised and sorted.
	Domains []string
}

func (d desired) clone() desired {
	d.Command = slices.Clone(d.Command)
	d.Env = maps.Clone(d.Env)
	d.Domains = slices.Clone(d.Domains)
	if d.HealthCheck != nil {
		hc := *d.HealthCheck
		hc.Command = slices.Clone(hc.Command)
		d.HealthCheck = &hc
	}
	return d
}

// specDoc is the spec as the API shows it, the base of merge patches.
func (d desired) specDoc() map[string]any {
	env := make(map[string]any, len(d.Env))
	for k, v := range d.Env {
		env[k] = v
	}
	doc := map[string]any{
		"image": d.Image, "replicas": d.Replicas, "port": d.Port, "env": env,
		"command": d.Command, "plan": d.Plan.Name, "stopped": d.Stopped, "domains": slices.Clone(d.Domains),
	}
	if d.HealthCheck != nil {
		doc["health_check"] = d.HealthCheck
	}
	return doc
}

func healthCheckJSON(hc *store.HealthCheck) pqtype.NullRawMessage {
	if hc == nil {
		return pqtype.NullRawMessage{}
	}
	b, _ := json.Marshal(hc)
	return pqtype.NullRawMessage{RawMessage: b, Valid: true}
}

// release is the part of d that a release runs: the one definition of
// what cuts a release (spec.Release), shared with the reconciler.
func (d desired) release() spec.Release {
	return spec.Release{Image: d.Image, Command: d.Command, Port: d.Port, PlanID: d.Plan.ID.String(),
		HealthCheck: d.HealthCheck, Env: d.Env}
}

// change is what a write alters.
type change struct {
	Fields  []string // spec fields changed, for the audit log
	Spec    bool     // a paas_apps spec column changed
	Release bool     // the release the spec runs changed: the write cuts a release
	EnvSet  map[string]string
	EnvDel  []string
	// DomainsAdd and DomainsDel are the hostnames added and removed.
	DomainsAdd, DomainsDel []string
}

func (ch change) empty() bool { return len(ch.Fields) == 0 }

// diffDesired says what a write from cur to next alters. Whether it cuts a
// release is decided by comparing the two releases, not field by field
// here, so the API and the reconciler cannot disagree on it.
func diffDesired(cur, next desired) change {
	var ch change
	mark := func(field string, specColumn bool) {
		ch.Fields = append(ch.Fields, field)
		ch.Spec = ch.Spec || specColumn
	}
	if cur.Image != next.Image {
		mark("image", true)
	}
	if cur.Replicas != next.Replicas {
		mark("replicas", true)
	}
	if cur.Port != next.Port {
		mark("port", true)
	}
	if !slices.Equal(cur.Command, next.Command) {
		mark("command", true)
	}
	if cur.Plan.ID != next.Plan.ID {
		mark("plan", true)
	}
	if !bytes.Equal(healthCheckJSON(cur.HealthCheck).RawMessage, healthCheckJSON(next.HealthCheck).RawMessage) {
		mark("health_check", true)
	}
	if cur.Stopped != next.Stopped {
		mark("stopped", true)
	}
	for k, v := range next.Env {
		if old, ok := cur.Env[k]; !ok || old != v {
			if ch.EnvSet == nil {
				ch.EnvSet = map[string]string{}
			}
			ch.EnvSet[k] = v
		}
	}
	for k := range cur.Env {
		if _, ok := next.Env[k]; !ok {
			ch.EnvDel = append(ch.EnvDel, k)
		}
	}
	slices.Sort(ch.EnvDel)
	if len(ch.EnvSet) > 0 || len(ch.EnvDel) > 0 {
		mark("env", false)
	}
	for _, h := range next.Domains {
		if !slices.Contains(cur.Domains, h) {
			ch.DomainsAdd = append(ch.DomainsAdd, h)
		}
	}
	for _, h := range cur.Domains {
		if !slices.Contains(next.Domains, h) {
			ch.DomainsDel = append(ch.DomainsDel, h)
		}
	}
	if len(ch.DomainsAdd) > 0 || len(ch.DomainsDel) > 0 {
		mark("domains", false)
	}
	ch.Release = !cur.release().Equal(next.release())
	return ch
}

// loadDesired reads an app's spec with its plan and opened env.
func (s *server) loadDesired(ctx context.Context, q *store.Queries, app store.App) (desired, error) {
	plan, err := q.GetPlan(ctx, app.PlanID)
	if err != nil {
		return desired{}, fmt.Errorf("plan of app %s: %w", app.ID, err)
	}
	hc, err := store.ParseHealthCheck(app.HealthCheck.RawMessage)
	if err != nil {
		return desired{}, err
	}
	vars, err := q.ListEnvVars(ctx, app.ID)
	if err != nil {
		return desired{}, err
	}
	env := make(map[string]string, len(vars))
	for _, v := range vars {
		clear, err := s.Box.Open(v.ValueEncrypted, secret.EnvAD(app.ID, v.Key))
		if err != nil {
			return desired{}, fmt.Errorf("env %s of app %s: %w", v.Key, app.ID, err)
		}
		env[v.Key] = string(clear)
	}
	doms, err := q.ListDomains(ctx, app.ID)
	if err != nil {
		return desired{}, fmt.Errorf("domains of app %s: %w", app.ID, err)
	}
	domains := make([]string, 0, len(doms))
	for _, d := range doms {
		domains = append(domains, d.Hostname)
	}
	slices.Sort(domains) // byte order, whatever the database's collation
	return desired{
		Image: app.Image, Replicas: app.Replicas, Port: app.Port, Command: slices.Clone(app.Command),
		Plan: plan, HealthCheck: hc, Stopped: app.Stopped, Env: env, Domains: domains,
	}, nil
}
