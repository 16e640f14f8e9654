package servicespec

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/distribution/reference"
	"github.com/docker/docker/api/types/swarm"
)

// Swarm's and Docker's defaults for fields left unset; Project fills them in so
// "unset" and "set to the default" compare equal and never trigger an update.
const (
	defaultRestartDelay    = 5 * time.Second  // swarmkit defaults.Service.Task.Restart.Delay
	defaultUpdateMonitor   = 5 * time.Second  // swarmkit defaults.Service.Update.Monitor
	defaultStopGracePeriod = 10 * time.Second // Docker's stop timeout
)

// Owned is the normalized projection of the service fields the app loop owns, the unit of comparison and hashing.
//
// It leaves out what other loops own (replicas, ForceUpdate; their labels are
// stripped by Ownership.Owned before projecting), the paas.spec-hash label (it is derived from
// Owned), and what the engine or CLI derive on their own (ContainerSpec.Isolation,
// TaskTemplate.Runtime, Placement.Platforms). Field order and JSON names are part
// of TemplateHash: changing them changes every hash, which costs one label-only
// update per service (no task restart) on the next resync.
type Owned struct {
	Image           string            `json:"image"`
	Entrypoint      []string          `json:"entrypoint,omitempty"` // ContainerSpec.Command; Render leaves it empty
	Args            []string          `json:"args,omitempty"`
	Env             []string          `json:"env,omitempty"` // "K=V", sorted by key
	Workdir         string            `json:"workdir,omitempty"`
	User            string            `json:"user,omitempty"`
	Hostname        string            `json:"hostname,omitempty"`
	Init            bool              `json:"init,omitempty"`
	ReadOnly        bool              `json:"read_only,omitempty"`
	StopSignal      string            `json:"stop_signal,omitempty"`
	StopGracePeriod time.Duration     `json:"stop_grace_period"`
	Healthcheck     *OwnedHealthcheck `json:"healthcheck,omitempty"` // nil: the image's own HEALTHCHECK applies
	Mounts          []string          `json:"mounts,omitempty"`
	Secrets         []string          `json:"secrets,omitempty"`
	Configs         []string          `json:"configs,omitempty"`
	CapAdd          []string          `json:"cap_add,omitempty"`
	CapDrop         []string          `json:"cap_drop,omitempty"`
	Hosts           []string          `json:"hosts,omitempty"`
	DNS             []string          `json:"dns,omitempty"`
	Sysctls         []string          `json:"sysctls,omitempty"`
	ContainerLabels map[string]string `json:"container_labels,omitempty"`

	CPULimit          int64 `json:"cpu_limit,omitempty"` // NanoCPUs
	MemoryLimit       int64 `json:"memory_limit,omitempty"`
	PidsLimit         int64 `json:"pids_limit,omitempty"`
	CPUReservation    int64 `json:"cpu_reservation,omitempty"`
	MemoryReservation int64 `json:"memory_reservation,omitempty"`

	Restart     OwnedRestart `json:"restart"`
	Constraints []string     `json:"constraints,omitempty"` // sorted: Swarm ANDs them, order is meaningless
	Preferences []string     `json:"preferences,omitempty"` // in order: earlier preferences take precedence
	MaxReplicas uint64       `json:"max_replicas,omitempty"`

	Networks  []OwnedNetwork `json:"networks,omitempty"`
	LogDriver string         `json:"log_driver,omitempty"`

	Update   OwnedUpdate `json:"update"`
	Rollback OwnedUpdate `json:"rollback"`

	EndpointMode string   `json:"endpoint_mode"`
	Ports        []string `json:"ports,omitempty"`

	Labels map[string]string `json:"labels,omitempty"` // service labels, except LabelSpecHash: Ownership.Owned strips other loops' first
}

// OwnedHealthcheck is a container healthcheck as Docker stores it.
type OwnedHealthcheck struct {
	Test        []string      `json:"test,omitempty"`
	Interval    time.Duration `json:"interval,omitempty"`
	Timeout     time.Duration `json:"timeout,omitempty"`
	StartPeriod time.Duration `json:"start_period,omitempty"`
	Retries     int           `json:"retries,omitempty"`
}

// OwnedRestart is a restart policy with Swarm's defaults filled in.
type OwnedRestart struct {
	Condition   string        `json:"condition"`
	Delay       time.Duration `json:"delay"`
	MaxAttempts uint64        `json:"max_attempts"`
	Window      time.Duration `json:"window"`
}

// OwnedNetwork is one network attachment: the network ID and the DNS aliases on it.
type OwnedNetwork struct {
	Target  string   `json:"target"`
	Aliases []string `json:"aliases,omitempty"`
}

// OwnedUpdate is an update or rollback config with Swarm's defaults filled in.
type OwnedUpdate struct {
	Parallelism     uint64        `json:"parallelism"`
	Delay           time.Duration `json:"delay"`
	FailureAction   string        `json:"failure_action"`
	Monitor         time.Duration `json:"monitor"`
	MaxFailureRatio float32       `json:"max_failure_ratio"`
	Order           string        `json:"order"`
}

// Project normalizes spec onto the fields the app loop owns.
//
// Normalization makes a rendered spec and the same spec read back from the
// engine compare equal: nil and empty slices and maps become nil, pointers
// become values, env is sorted by key, constraints are sorted, the image is
// written the way the Docker client rewrites it before sending (familiar name,
// ":latest" added when untagged), and unset fields take the value Swarm would
// apply (restart any/5s, update parallelism 1/pause/5s monitor/stop-first,
// endpoint mode vip, stop grace period 10s). Fields Swarm or the CLI fill in
// themselves (Isolation, Runtime, Placement.Platforms) are not projected.
func Project(spec swarm.ServiceSpec) Owned {
	var o Owned
	t := spec.TaskTemplate
	if c := t.ContainerSpec; c != nil {
		o.Image = normalizeImage(c.Image)
		o.Entrypoint = nonEmpty(c.Command)
		o.Args = nonEmpty(c.Args)
		o.Env = sortEnv(c.Env)
		o.Workdir = c.Dir
		o.User = c.User
		o.Hostname = c.Hostname
		o.Init = c.Init != nil && *c.Init
		o.ReadOnly = c.ReadOnly
		o.StopSignal = c.StopSignal
		o.StopGracePeriod = defaultStopGracePeriod
		if c.StopGracePeriod != nil && *c.StopGracePeriod != 0 {
			o.StopGracePeriod = *c.StopGracePeriod
		}
		if h := c.Healthcheck; h != nil {
			oh := OwnedHealthcheck{
				Test:        nonEmpty(h.Test),
				Interval:    h.Interval,
				Timeout:     h.Timeout,
				StartPeriod: h.StartPeriod,
				Retries:     h.Retries,
			}
			if !reflect.DeepEqual(oh, OwnedHealthcheck{}) {
				o.Healthcheck = &oh
			}
		}
		for _, m := range c.Mounts {
			o.Mounts = append(o.Mounts, fmt.Sprintf("%s %s:%s ro=%t", m.Type, m.Source, m.Target, m.ReadOnly))
		}
		for _, s := range c.Secrets {
			if s != nil {
				target := ""
				if s.File != nil {
					target = s.File.Name
				}
				o.Secrets = append(o.Secrets, s.SecretName+":"+target)
			}
		}
		for _, s := range c.Configs {
			if s != nil {
				target := ""
				if s.File != nil {
					target = s.File.Name
				}
				o.Configs = append(o.Configs, s.ConfigName+":"+target)
			}
		}
		o.CapAdd = nonEmpty(c.CapabilityAdd)
		o.CapDrop = nonEmpty(c.CapabilityDrop)
		o.Hosts = nonEmpty(c.Hosts)
		if dns := c.DNSConfig; dns != nil {
			for _, s := range dns.Nameservers {
				o.DNS = append(o.DNS, "nameserver "+s)
			}
			for _, s := range dns.Search {
				o.DNS = append(o.DNS, "search "+s)
			}
			for _, s := range dns.Options {
				o.DNS = append(o.DNS, "option "+s)
			}
		}
		for _, k := range slices.Sorted(maps.Keys(c.Sysctls)) {
			o.Sysctls = append(o.Sysctls, k+"="+c.Sysctls[k])
		}
		o.ContainerLabels = nonEmptyMap(c.Labels)
	}

	if r := t.Resources; r != nil {
		if l := r.Limits; l != nil {
			o.CPULimit, o.MemoryLimit, o.PidsLimit = l.NanoCPUs, l.MemoryBytes, l.Pids
		}
		if rv := r.Reservations; rv != nil {
			o.CPUReservation, o.MemoryReservation = rv.NanoCPUs, rv.MemoryBytes
		}
	}

	o.Restart = OwnedRestart{Condition: string(swarm.RestartPolicyConditionAny), Delay: defaultRestartDelay}
	if rp := t.RestartPolicy; rp != nil {
		if rp.Condition != "" {
			o.Restart.Condition = string(rp.Condition)
		}
		if rp.Delay != nil {
			o.Restart.Delay = *rp.Delay
		}
		if rp.MaxAttempts != nil {
			o.Restart.MaxAttempts = *rp.MaxAttempts
		}
		if rp.Window != nil {
			o.Restart.Window = *rp.Window
		}
	}

	if p := t.Placement; p != nil {
		if len(p.Constraints) > 0 {
			o.Constraints = slices.Sorted(slices.Values(p.Constraints))
		}
		for _, pref := range p.Preferences {
			if pref.Spread != nil {
				o.Preferences = append(o.Preferences, "spread="+pref.Spread.SpreadDescriptor)
			}
		}
		o.MaxReplicas = p.MaxReplicas
	}

	nets := t.Networks
	if len(nets) == 0 {
		nets = spec.Networks //nolint:staticcheck // services created through old API versions still carry the deprecated field
	}
	for _, n := range nets {
		o.Networks = append(o.Networks, OwnedNetwork{Target: n.Target, Aliases: nonEmpty(n.Aliases)})
	}

	if ld := t.LogDriver; ld != nil && ld.Name != "" {
		o.LogDriver = ld.Name
		for _, k := range slices.Sorted(maps.Keys(ld.Options)) {
			o.LogDriver += " " + k + "=" + ld.Options[k]
		}
	}

	o.Update = projectUpdate(spec.UpdateConfig)
	o.Rollback = projectUpdate(spec.RollbackConfig)

	o.EndpointMode = string(swarm.ResolutionModeVIP)
	if e := spec.EndpointSpec; e != nil {
		if e.Mode != "" {
			o.EndpointMode = string(e.Mode)
		}
		for _, p := range e.Ports {
			o.Ports = append(o.Ports, fmt.Sprintf("%s %d->%d %s", cmp.Or(string(p.Protocol), "tcp"), p.PublishedPort, p.TargetPort, cmp.Or(string(p.PublishMode), "ingress")))
		}
		slices.Sort(o.Ports)
	}

	for k, v := range spec.Labels {
		if k != LabelSpecHash {
			if o.Labels == nil {
				o.Labels = map[string]string{}
			}
			o.Labels[k] = v
		}
	}
	return o
}

func projectUpdate(u *swarm.UpdateConfig) OwnedUpdate {
	out := OwnedUpdate{
		Parallelism:   1,
		FailureAction: swarm.UpdateFailureActionPause,
		Monitor:       defaultUpdateMonitor,
		Order:         swarm.UpdateOrderStopFirst,
	}
	if u == nil {
		return out
	}
	// A non-nil config is taken as written (Parallelism 0 means "all at once"),
	// except that the zero values of the enum and of Monitor are Swarm's defaults:
	// the engine drops a zero Monitor and stores PAUSE/STOP_FIRST as enum 0.
	out.Parallelism = u.Parallelism
	out.Delay = u.Delay
	out.MaxFailureRatio = u.MaxFailureRatio
	if u.FailureAction != "" {
		out.FailureAction = u.FailureAction
	}
	if u.Monitor != 0 {
		out.Monitor = u.Monitor
	}
	if u.Order != "" {
		out.Order = u.Order
	}
	return out
}

// normalizeImage mirrors the Docker client's imageWithTagString, which rewrites
// the image before ServiceCreate/ServiceUpdate send it: "nginx" is stored as
// "nginx:latest" and "docker.io/library/nginx:1" as "nginx:1". Image IDs
// ("sha256:…") and unparsable strings pass through unchanged.
func normalizeImage(image string) string {
	if strings.HasPrefix(image, "sha256:") {
		return image
	}
	named, err := reference.ParseNormalizedNamed(image)
	if err != nil {
		return image
	}
	return reference.FamiliarString(reference.TagNameOnly(named))
}

// sortEnv sorts "K=V" entries by key (stable, so duplicate keys keep their order).
func sortEnv(env []string) []string {
	if len(env) == 0 {
		return nil
	}
	out := slices.Clone(env)
	slices.SortStableFunc(out, func(a, b string) int { return strings.Compare(envKey(a), envKey(b)) })
	return out
}

func envKey(kv string) string {
	k, _, _ := strings.Cut(kv, "=")
	return k
}

func nonEmpty(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	return slices.Clone(s)
}

func nonEmptyMap(m map[string]string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	return maps.Clone(m)
}

// Equal reports whether two projections are semantically the same service, i.e. whether writing one over the other is pointless.
func (o Owned) Equal(p Owned) bool { return reflect.DeepEqual(o, p) }

// String prints the projection as JSON with env values, the entrypoint, the
// arguments and the health-check command redacted, so logging an Owned never
// leaks secrets (commands often carry credentials: --password=...).
func (o Owned) String() string {
	c := o
	c.Env = nil
	for _, kv := range o.Env {
		c.Env = append(c.Env, envKey(kv)+"="+Redacted)
	}
	c.Entrypoint, c.Args = redactList(o.Entrypoint), redactList(o.Args)
	if o.Healthcheck != nil {
		h := *o.Healthcheck
		h.Test = redactList(h.Test)
		c.Healthcheck = &h
	}
	b, _ := json.Marshal(c)
	return string(b)
}

// redactList stands one Redacted in for a non-empty command.
func redactList(s []string) []string {
	if len(s) == 0 {
		return s
	}
	return []string{Redacted}
}

// GoString redacts what String does, for %#v.
func (o Owned) GoString() string { return o.String() }

// TemplateHash is a short stable digest of o (sha256 over its JSON encoding,
// whose struct field order and sorted map keys make it canonical), stored as
// the paas.spec-hash label so a reconciler can tell a new spec from a hand edit.
// The env values it covers are no more exposed than the service spec itself is.
func TemplateHash(o Owned) string {
	b, err := json.Marshal(o)
	if err != nil {
		// Owned holds only strings, numbers, slices and maps: Marshal cannot fail.
		panic("servicespec: marshal Owned: " + err.Error())
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])[:16]
}

// Markers FieldDiff uses in Before/After for keyed fields (env, labels).
const (
	// Absent marks a key missing on one side of a FieldDiff.
	Absent = "<absent>"
	// Redacted stands in for an env value, which must never reach events or logs.
	Redacted = "<redacted>"
)

// FieldDiff is one differing owned field: Before is the observed value, After the desired one.
type FieldDiff struct {
	Field  string `json:"field"`
	Before string `json:"before"`
	After  string `json:"after"`
}

// String renders the difference for an event message, e.g. "env FOO added" or "image a -> b".
func (f FieldDiff) String() string {
	switch {
	case f.Before == Absent && f.After == Redacted:
		return f.Field + " added"
	case f.Before == Absent:
		return f.Field + " added: " + f.After
	case f.After == Absent:
		return f.Field + " removed"
	case f.Before == Redacted && f.After == Redacted:
		return f.Field + " changed"
	default:
		return f.Field + ": " + f.Before + " -> " + f.After
	}
}

// Diff lists every owned field where observed differs from desired, in a fixed
// order, as the changes a write of desired would make. Env differences name the
// key only (Before/After are Absent or Redacted), never the value; commands
// (entrypoint, args, the healthcheck's) are shown Redacted too, as they often
// carry credentials (--password=...).
func Diff(desired, observed Owned) []FieldDiff {
	var out []FieldDiff
	add := func(field, before, after string) {
		if before != after {
			out = append(out, FieldDiff{Field: field, Before: before, After: after})
		}
	}
	scalar := func(field string, get func(Owned) string) { add(field, get(observed), get(desired)) }
	// sensitive compares full values but shows only shown(o), and Redacted
	// when what differs is hidden.
	sensitive := func(field string, get, shown func(Owned) string) {
		if get(observed) == get(desired) {
			return
		}
		before, after := shown(observed), shown(desired)
		if before == after {
			before, after = Redacted, Redacted
		}
		out = append(out, FieldDiff{Field: field, Before: before, After: after})
	}
	redactedList := func(get func(Owned) []string) func(Owned) string {
		return func(o Owned) string {
			if len(get(o)) == 0 {
				return "[]"
			}
			return Redacted
		}
	}

	scalar("image", func(o Owned) string { return o.Image })
	entrypoint := func(o Owned) []string { return o.Entrypoint }
	args := func(o Owned) []string { return o.Args }
	sensitive("entrypoint", func(o Owned) string { return list(o.Entrypoint) }, redactedList(entrypoint))
	sensitive("args", func(o Owned) string { return list(o.Args) }, redactedList(args))
	out = append(out, keyedDiff("env", envMap(desired.Env), envMap(observed.Env), true)...)
	scalar("workdir", func(o Owned) string { return o.Workdir })
	scalar("user", func(o Owned) string { return o.User })
	scalar("hostname", func(o Owned) string { return o.Hostname })
	scalar("init", func(o Owned) string { return strconv.FormatBool(o.Init) })
	scalar("read_only", func(o Owned) string { return strconv.FormatBool(o.ReadOnly) })
	scalar("stop_signal", func(o Owned) string { return o.StopSignal })
	scalar("stop_grace_period", func(o Owned) string { return o.StopGracePeriod.String() })
	sensitive("healthcheck", func(o Owned) string { return healthString(o.Healthcheck, false) },
		func(o Owned) string { return healthString(o.Healthcheck, true) })
	scalar("mounts", func(o Owned) string { return list(o.Mounts) })
	scalar("secrets", func(o Owned) string { return list(o.Secrets) })
	scalar("configs", func(o Owned) string { return list(o.Configs) })
	scalar("cap_add", func(o Owned) string { return list(o.CapAdd) })
	scalar("cap_drop", func(o Owned) string { return list(o.CapDrop) })
	scalar("hosts", func(o Owned) string { return list(o.Hosts) })
	scalar("dns", func(o Owned) string { return list(o.DNS) })
	scalar("sysctls", func(o Owned) string { return list(o.Sysctls) })
	out = append(out, keyedDiff("container label", desired.ContainerLabels, observed.ContainerLabels, false)...)
	scalar("limits.cpu", func(o Owned) string { return cpuString(o.CPULimit) })
	scalar("limits.memory", func(o Owned) string { return memString(o.MemoryLimit) })
	scalar("limits.pids", func(o Owned) string { return strconv.FormatInt(o.PidsLimit, 10) })
	scalar("reservations.cpu", func(o Owned) string { return cpuString(o.CPUReservation) })
	scalar("reservations.memory", func(o Owned) string { return memString(o.MemoryReservation) })
	scalar("restart_policy", func(o Owned) string {
		r := o.Restart
		return fmt.Sprintf("%s delay=%s max_attempts=%d window=%s", r.Condition, r.Delay, r.MaxAttempts, r.Window)
	})
	scalar("placement.constraints", func(o Owned) string { return list(o.Constraints) })
	scalar("placement.preferences", func(o Owned) string { return list(o.Preferences) })
	scalar("placement.max_replicas", func(o Owned) string { return strconv.FormatUint(o.MaxReplicas, 10) })
	scalar("networks", func(o Owned) string {
		var s []string
		for _, n := range o.Networks {
			s = append(s, n.Target+" aliases="+strings.Join(n.Aliases, ","))
		}
		return list(s)
	})
	scalar("log_driver", func(o Owned) string { return o.LogDriver })
	scalar("update_config", func(o Owned) string { return updateString(o.Update) })
	scalar("rollback_config", func(o Owned) string { return updateString(o.Rollback) })
	scalar("endpoint_mode", func(o Owned) string { return o.EndpointMode })
	scalar("ports", func(o Owned) string { return list(o.Ports) })
	out = append(out, keyedDiff("label", desired.Labels, observed.Labels, false)...)
	return out
}

// keyedDiff compares two maps key by key; redact hides values (env).
func keyedDiff(prefix string, desired, observed map[string]string, redact bool) []FieldDiff {
	var out []FieldDiff
	keys := slices.Sorted(maps.Keys(desired))
	for k := range observed {
		if _, ok := desired[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	show := func(v string) string {
		if redact {
			return Redacted
		}
		return v
	}
	for _, k := range keys {
		d, dok := desired[k]
		o, ook := observed[k]
		switch {
		case dok && !ook:
			out = append(out, FieldDiff{Field: prefix + " " + k, Before: Absent, After: show(d)})
		case !dok && ook:
			out = append(out, FieldDiff{Field: prefix + " " + k, Before: show(o), After: Absent})
		case d != o:
			out = append(out, FieldDiff{Field: prefix + " " + k, Before: show(o), After: show(d)})
		}
	}
	return out
}

// envMap keys env entries by name; a duplicated key keeps every value so the
// comparison still sees a difference when only the duplicates differ.
func envMap(env []string) map[string]string {
	if len(env) == 0 {
		return nil
	}
	m := make(map[string]string, len(env))
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		if prev, ok := m[k]; ok {
			v = prev + "\x00" + v
		}
		m[k] = v
	}
	return m
}

func list(s []string) string {
	if len(s) == 0 {
		return "[]"
	}
	b, _ := json.Marshal(s)
	return string(b)
}

// healthString prints a healthcheck, its command Redacted when redact is set.
func healthString(h *OwnedHealthcheck, redact bool) string {
	if h == nil {
		return "image default"
	}
	test := list(h.Test)
	if redact && len(h.Test) > 0 {
		test = Redacted
	}
	return fmt.Sprintf("%s interval=%s timeout=%s start_period=%s retries=%d", test, h.Interval, h.Timeout, h.StartPeriod, h.Retries)
}

func updateString(u OwnedUpdate) string {
	return fmt.Sprintf("parallelism=%d delay=%s failure_action=%s monitor=%s max_failure_ratio=%g order=%s",
		u.Parallelism, u.Delay, u.FailureAction, u.Monitor, u.MaxFailureRatio, u.Order)
}

func cpuString(nano int64) string {
	if nano == 0 {
		return "unlimited"
	}
	return strconv.FormatFloat(float64(nano)/1e9, 'f', -1, 64) + " CPU"
}

func memString(b int64) string {
	switch {
	case b == 0:
		return "unlimited"
	case b%(1<<20) == 0:
		return strconv.FormatInt(b>>20, 10) + "MiB"
	default:
		return strconv.FormatInt(b, 10) + "B"
	}
}
