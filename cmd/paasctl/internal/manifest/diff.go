package manifest

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/skypanel/paas/api/client"
)

// Op is what a change does to a field.
type Op byte

// The change kinds, with the marks diff prints.
const (
	Add    Op = '+'
	Remove Op = '-'
	Modify Op = '~'
)

// Change is one field's difference between a file and the live app.
type Change struct {
	Op Op
	// Field is the spec field: image, replicas, env.KEY, domains, ...
	Field string
	// Old and New are the values as shown (empty for Add/Remove sides).
	Old, New string
	// Secret marks env values, which are hidden unless asked for.
	Secret bool
}

// Plan is what applying one app means.
type Plan struct {
	App App
	// Create is true when no such app exists yet.
	Create bool
	// Changes lists the differences, in spec order; empty when the live app
	// already matches.
	Changes []Change
	// Patch is the JSON merge patch of the app object (`{"spec": {...}}`)
	// that makes the live app match; nil when nothing changes or on create.
	Patch map[string]any
	// DomainsChanged says the file's domains differ from the live ones.
	DomainsChanged bool
}

// Unchanged reports whether the live app already matches the file.
func (p Plan) Unchanged() bool { return !p.Create && len(p.Changes) == 0 }

// LiveDomains returns the custom hostnames of a live app (its
// spec.domains), sorted.
func LiveDomains(live client.App) []string {
	out := slices.Clone(live.Spec.Domains)
	slices.Sort(out)
	return slices.Compact(out)
}

// Compare plans how to make live (nil: absent) match the file's app.
func Compare(app App, live *client.App) Plan {
	p := Plan{App: app}
	s := app.Spec
	if live == nil {
		p.Create = true
		p.Changes = creationChanges(s)
		p.DomainsChanged = s.DomainsSet && len(s.Domains) > 0
		return p
	}
	ls := live.Spec
	patch := map[string]any{}
	add := func(c Change, key string, value any) {
		p.Changes = append(p.Changes, c)
		patch[key] = value
	}
	if s.Image != nil && *s.Image != ls.Image {
		add(Change{Op: Modify, Field: "image", Old: ls.Image, New: *s.Image}, "image", *s.Image)
	}
	if s.Replicas != nil && *s.Replicas != ls.Replicas {
		add(Change{Op: Modify, Field: "replicas", Old: strconv.Itoa(ls.Replicas), New: strconv.Itoa(*s.Replicas)}, "replicas", *s.Replicas)
	}
	if s.Port != nil && *s.Port != ls.Port {
		add(Change{Op: Modify, Field: "port", Old: strconv.Itoa(ls.Port), New: strconv.Itoa(*s.Port)}, "port", *s.Port)
	}
	if s.Plan != nil && *s.Plan != ls.Plan {
		add(Change{Op: Modify, Field: "plan", Old: ls.Plan, New: *s.Plan}, "plan", *s.Plan)
	}
	if s.Command != nil && !slices.Equal(*s.Command, ls.Command) {
		add(Change{Op: Modify, Field: "command", Old: showList(ls.Command), New: showList(*s.Command)}, "command", *s.Command)
	}
	if s.HealthCheckSet {
		liveHC := fromClientHC(ls.HealthCheck)
		switch {
		case s.HealthCheck == nil && liveHC != nil:
			add(Change{Op: Remove, Field: "health_check", Old: ShowHealthCheck(liveHC)}, "health_check", nil)
		case s.HealthCheck != nil && liveHC == nil:
			add(Change{Op: Add, Field: "health_check", New: ShowHealthCheck(s.HealthCheck)}, "health_check", s.HealthCheck)
		case s.HealthCheck != nil && !equalHC(*s.HealthCheck, *liveHC):
			add(Change{Op: Modify, Field: "health_check", Old: ShowHealthCheck(liveHC), New: ShowHealthCheck(s.HealthCheck)}, "health_check", s.HealthCheck)
		}
	}
	if s.Stopped != nil && *s.Stopped != ls.Stopped {
		add(Change{Op: Modify, Field: "stopped", Old: strconv.FormatBool(ls.Stopped), New: strconv.FormatBool(*s.Stopped)}, "stopped", *s.Stopped)
	}
	if s.EnvSet {
		envPatch := map[string]any{}
		keys := slices.Sorted(maps.Keys(mergeKeys(s.Env, ls.Env)))
		for _, k := range keys {
			want, inFile := s.Env[k]
			have, inLive := ls.Env[k]
			switch {
			case inFile && !inLive:
				p.Changes = append(p.Changes, Change{Op: Add, Field: "env." + k, New: want, Secret: true})
				envPatch[k] = want
			case !inFile && inLive:
				p.Changes = append(p.Changes, Change{Op: Remove, Field: "env." + k, Old: have, Secret: true})
				envPatch[k] = nil
			case want != have:
				p.Changes = append(p.Changes, Change{Op: Modify, Field: "env." + k, Old: have, New: want, Secret: true})
				envPatch[k] = want
			}
		}
		if len(envPatch) > 0 {
			patch["env"] = envPatch
		}
	}
	if s.DomainsSet {
		have := LiveDomains(*live)
		if !slices.Equal(have, s.Domains) {
			p.DomainsChanged = true
			patch["domains"] = slices.Clone(s.Domains)
			for _, d := range s.Domains {
				if !slices.Contains(have, d) {
					p.Changes = append(p.Changes, Change{Op: Add, Field: "domains", New: d})
				}
			}
			for _, d := range have {
				if !slices.Contains(s.Domains, d) {
					p.Changes = append(p.Changes, Change{Op: Remove, Field: "domains", Old: d})
				}
			}
		}
	}
	if len(patch) > 0 {
		p.Patch = map[string]any{"spec": patch}
	}
	return p
}

// creationChanges lists what a new app gets from the file.
func creationChanges(s Spec) []Change {
	var cs []Change
	addf := func(field, v string) { cs = append(cs, Change{Op: Add, Field: field, New: v}) }
	if s.Image != nil {
		addf("image", *s.Image)
	}
	if s.Source != nil {
		addf("source", ShowSource(*s.Source))
	}
	if s.Replicas != nil {
		addf("replicas", strconv.Itoa(*s.Replicas))
	}
	if s.Port != nil {
		addf("port", strconv.Itoa(*s.Port))
	}
	if s.Plan != nil {
		addf("plan", *s.Plan)
	}
	if s.Command != nil {
		addf("command", showList(*s.Command))
	}
	if s.HealthCheck != nil {
		addf("health_check", ShowHealthCheck(s.HealthCheck))
	}
	if s.Stopped != nil {
		addf("stopped", strconv.FormatBool(*s.Stopped))
	}
	for _, k := range slices.Sorted(maps.Keys(s.Env)) {
		cs = append(cs, Change{Op: Add, Field: "env." + k, New: s.Env[k], Secret: true})
	}
	for _, d := range s.Domains {
		addf("domains", d)
	}
	return cs
}

// CreateRequest is the API body that creates the app, its domains included.
func CreateRequest(app App) client.CreateAppRequest {
	s := app.Spec
	in := client.AppSpecInput{Image: s.Image, Replicas: s.Replicas, Port: s.Port, Plan: s.Plan, Command: s.Command, Stopped: s.Stopped}
	if src := s.Source; src != nil {
		in.Source = &client.AppSource{Dockerfile: &src.Dockerfile, Builder: (*client.AppSourceBuilder)(&src.Builder)}
		in.Source.Git.Url, in.Source.Git.Ref, in.Source.Git.Path = src.Git.URL, &src.Git.Ref, &src.Git.Path
		if src.Builder == "auto" {
			in.Source.Dockerfile = nil
		}
	}
	if s.HealthCheck != nil {
		in.HealthCheck = toClientHC(s.HealthCheck)
	}
	if s.EnvSet {
		env := maps.Clone(s.Env)
		in.Env = &env
	}
	if len(s.Domains) > 0 {
		domains := slices.Clone(s.Domains)
		in.Domains = &domains
	}
	return client.CreateAppRequest{Name: app.Name, Spec: in}
}

func mergeKeys(a, b map[string]string) map[string]struct{} {
	out := make(map[string]struct{}, len(a)+len(b))
	for k := range a {
		out[k] = struct{}{}
	}
	for k := range b {
		out[k] = struct{}{}
	}
	return out
}

func fromClientHC(h *client.HealthCheck) *HealthCheck {
	if h == nil {
		return nil
	}
	out := &HealthCheck{}
	if h.Command != nil {
		out.Command = *h.Command
	}
	if h.Path != nil {
		out.Path = *h.Path
	}
	deref := func(p *int) int {
		if p == nil {
			return 0
		}
		return *p
	}
	out.IntervalSeconds = deref(h.IntervalSeconds)
	out.TimeoutSeconds = deref(h.TimeoutSeconds)
	out.Retries = deref(h.Retries)
	out.StartPeriodSeconds = deref(h.StartPeriodSeconds)
	return out
}

func toClientHC(h *HealthCheck) *client.HealthCheck {
	out := &client.HealthCheck{}
	if len(h.Command) > 0 {
		c := slices.Clone(h.Command)
		out.Command = &c
	}
	if h.Path != "" {
		p := h.Path
		out.Path = &p
	}
	ptr := func(v int) *int {
		if v == 0 {
			return nil
		}
		return &v
	}
	out.IntervalSeconds = ptr(h.IntervalSeconds)
	out.TimeoutSeconds = ptr(h.TimeoutSeconds)
	out.Retries = ptr(h.Retries)
	out.StartPeriodSeconds = ptr(h.StartPeriodSeconds)
	return out
}

func equalHC(a, b HealthCheck) bool {
	return slices.Equal(a.Command, b.Command) && a.Path == b.Path && a.IntervalSeconds == b.IntervalSeconds &&
		a.TimeoutSeconds == b.TimeoutSeconds && a.Retries == b.Retries && a.StartPeriodSeconds == b.StartPeriodSeconds
}

// ShowHealthCheck renders a health check on one line.
func ShowHealthCheck(h *HealthCheck) string {
	if h == nil {
		return "none"
	}
	var b strings.Builder
	if h.Path != "" {
		b.WriteString("GET " + h.Path)
	} else {
		b.WriteString("exec " + showList(h.Command))
	}
	var opts []string
	if h.IntervalSeconds > 0 {
		opts = append(opts, fmt.Sprintf("interval %ds", h.IntervalSeconds))
	}
	if h.TimeoutSeconds > 0 {
		opts = append(opts, fmt.Sprintf("timeout %ds", h.TimeoutSeconds))
	}
	if h.Retries > 0 {
		opts = append(opts, fmt.Sprintf("retries %d", h.Retries))
	}
	if h.StartPeriodSeconds > 0 {
		opts = append(opts, fmt.Sprintf("start period %ds", h.StartPeriodSeconds))
	}
	if len(opts) > 0 {
		b.WriteString(" (" + strings.Join(opts, ", ") + ")")
	}
	return b.String()
}

// ShowClientHealthCheck renders the API's health check on one line.
func ShowClientHealthCheck(h *client.HealthCheck) string { return ShowHealthCheck(fromClientHC(h)) }

func showList(l []string) string {
	if len(l) == 0 {
		return "[]"
	}
	q := make([]string, len(l))
	for i, s := range l {
		q[i] = strconv.Quote(s)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

// RenderOptions steer how plans are printed.
type RenderOptions struct {
	// Color adds ANSI colours (green additions, red removals, yellow changes).
	Color bool
	// ShowValues prints env values instead of hiding them.
	ShowValues bool
}

const (
	ansiReset  = "\x1b[0m"
	ansiRed    = "\x1b[31m"
	ansiGreen  = "\x1b[32m"
	ansiYellow = "\x1b[33m"
)

// RenderDiff prints a plan the way `paasctl diff` shows it:
//
//	~ app/web
//	    ~ image: paas-testapp:v1 -> paas-testapp:v2
//	    + env.DEBUG: (hidden)
func RenderDiff(w io.Writer, p Plan, o RenderOptions) {
	paint := func(color, s string) string {
		if !o.Color {
			return s
		}
		return color + s + ansiReset
	}
	switch {
	case p.Create:
		fmt.Fprintln(w, paint(ansiGreen, "+ app/"+p.App.Name+" (new)"))
	case len(p.Changes) == 0:
		fmt.Fprintln(w, "  app/"+p.App.Name+" (no change)")
		return
	default:
		fmt.Fprintln(w, paint(ansiYellow, "~ app/"+p.App.Name))
	}
	for _, c := range p.Changes {
		line := "    " + string(c.Op) + " " + c.Field + ": " + changeText(c, o.ShowValues)
		switch c.Op {
		case Add:
			line = paint(ansiGreen, line)
		case Remove:
			line = paint(ansiRed, line)
		default:
			line = paint(ansiYellow, line)
		}
		fmt.Fprintln(w, line)
	}
}

func changeText(c Change, showValues bool) string {
	val := func(s string) string {
		if c.Secret && !showValues {
			return "(hidden)"
		}
		if c.Secret {
			return strconv.Quote(s)
		}
		return s
	}
	switch c.Op {
	case Add:
		return val(c.New)
	case Remove:
		if c.Field == "domains" {
			return c.Old
		}
		if c.Secret && !showValues {
			return "(removed)"
		}
		return val(c.Old) + " (removed)"
	default:
		if c.Secret && !showValues {
			return "(changed)"
		}
		return val(c.Old) + " -> " + val(c.New)
	}
}

// Summary is the one-line account of a plan `paasctl apply` prints:
// "image paas-testapp:v1 -> paas-testapp:v2, replicas 1 -> 2, env +DEBUG ~TOKEN".
func Summary(p Plan) string {
	var parts, env, domains []string
	for _, c := range p.Changes {
		switch {
		case strings.HasPrefix(c.Field, "env."):
			env = append(env, string(c.Op)+strings.TrimPrefix(c.Field, "env."))
		case c.Field == "domains":
			d := c.New
			if c.Op == Remove {
				d = c.Old
			}
			domains = append(domains, string(c.Op)+d)
		case c.Op == Add:
			parts = append(parts, c.Field+" "+c.New)
		case c.Op == Remove:
			parts = append(parts, c.Field+" removed")
		default:
			parts = append(parts, c.Field+" "+c.Old+" -> "+c.New)
		}
	}
	if len(env) > 0 {
		parts = append(parts, "env "+strings.Join(env, " "))
	}
	if len(domains) > 0 {
		parts = append(parts, "domains "+strings.Join(domains, " "))
	}
	return strings.Join(parts, ", ")
}

// Reconfigures says whether a plan cuts a new release (anything but
// replicas, stopped and domains changes).
func Reconfigures(p Plan) bool {
	for _, c := range p.Changes {
		switch c.Field {
		case "replicas", "stopped", "domains":
		default:
			return true
		}
	}
	return false
}

// SourceChanges compares a declared source with the live one (nil: the app
// has none); no change means nothing to write.
func SourceChanges(want Source, live *client.AppSourceAnswer) []Change {
	if live == nil {
		return []Change{{Op: Add, Field: "source", New: ShowSource(want)}}
	}
	var out []Change
	cmp := func(field, old, nw string) {
		if old != nw {
			out = append(out, Change{Op: Modify, Field: "source." + field, Old: old, New: nw})
		}
	}
	cmp("git.url", live.Git.Url, want.Git.URL)
	cmp("git.ref", live.Git.Ref, want.Git.Ref)
	cmp("git.path", live.Git.Path, want.Git.Path)
	cmp("builder", live.Builder, want.Builder)
	if want.Builder != "auto" {
		cmp("dockerfile", live.Dockerfile, want.Dockerfile)
	}
	return out
}

// ShowSource is a source on one line.
func ShowSource(s Source) string {
	out := s.Git.URL + "@" + s.Git.Ref
	if s.Git.Path != "" {
		out += " path " + s.Git.Path
	}
	if s.Builder == "auto" {
		return out + " (builder auto)"
	}
	return out + " (" + s.Dockerfile + ")"
}
