package servicespec

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/docker/docker/api/types/swarm"
)

// Fields declares the parts of an app's Swarm service spec that one loop
// owns: it alone writes them, and every other loop's write keeps them as
// they are live. The zero Fields owns nothing.
type Fields struct {
	// Replicas is Mode.Replicated.Replicas.
	Replicas bool
	// ForceUpdate is TaskTemplate.ForceUpdate, the restart counter.
	ForceUpdate bool
	// LabelPrefixes are service label key prefixes; the loop owns every
	// label under them, including ones added by hand.
	LabelPrefixes []string
	// Rest is everything no other loop declares: image, command, env,
	// resources, healthcheck, networks, update and rollback config, and any
	// label under no other loop's prefix. Exactly one loop owns the rest, so
	// a field or label nobody declared is still somebody's to repair.
	Rest bool
}

// IsZero reports whether f owns nothing.
func (f Fields) IsZero() bool {
	return !f.Replicas && !f.ForceUpdate && len(f.LabelPrefixes) == 0 && !f.Rest
}

// Ownership is every loop's declared Fields; build it with NewOwnership,
// which refuses overlapping claims.
type Ownership struct {
	// owners maps a loop name to its fields; rest names the loop with Rest.
	owners map[string]Fields
	rest   string
}

// NewOwnership checks that no two loops claim the same part of a service
// (a label prefix may not contain another loop's prefix either) and that
// exactly one loop owns the rest.
func NewOwnership(owners map[string]Fields) (Ownership, error) {
	o := Ownership{owners: map[string]Fields{}}
	var errs []error
	claimed := map[string]string{}
	claim := func(part, loop string) {
		if other, ok := claimed[part]; ok {
			errs = append(errs, fmt.Errorf("%s is claimed by loops %s and %s", part, other, loop))
		}
		claimed[part] = loop
	}
	var prefixes [][2]string // prefix, loop
	for _, loop := range slices.Sorted(maps.Keys(owners)) {
		f := owners[loop]
		if f.IsZero() {
			continue
		}
		o.owners[loop] = f
		if f.Replicas {
			claim("replicas", loop)
		}
		if f.ForceUpdate {
			claim("force_update", loop)
		}
		if f.Rest {
			claim("the rest", loop)
			o.rest = loop
		}
		for _, p := range f.LabelPrefixes {
			if p == "" {
				errs = append(errs, fmt.Errorf("loop %s declares an empty label prefix", loop))
				continue
			}
			for _, q := range prefixes {
				if strings.HasPrefix(p, q[0]) || strings.HasPrefix(q[0], p) {
					errs = append(errs, fmt.Errorf("label prefix %q of loop %s overlaps %q of loop %s", p, loop, q[0], q[1]))
				}
			}
			prefixes = append(prefixes, [2]string{p, loop})
		}
	}
	if o.rest == "" {
		errs = append(errs, errors.New("no loop owns the rest of the service spec"))
	}
	if err := errors.Join(errs...); err != nil {
		return Ownership{}, fmt.Errorf("field ownership: %w", err)
	}
	return o, nil
}

// Rest names the loop that owns everything no other loop declares.
func (o Ownership) Rest() string { return o.rest }

// LabelOwner names the loop that owns the service label k.
func (o Ownership) LabelOwner(k string) string {
	for loop, f := range o.owners {
		for _, p := range f.LabelPrefixes {
			if strings.HasPrefix(k, p) {
				return loop
			}
		}
	}
	return o.rest
}

// Merge returns the spec that loop writer sends: live with the writer's
// fields replaced by desired's, so another loop's fields are never touched.
// For the loop that owns the rest, that is desired with every other loop's
// fields copied from live. Neither input is modified.
func (o Ownership) Merge(writer string, live, desired swarm.ServiceSpec) swarm.ServiceSpec {
	if writer == o.rest {
		out := clone(desired)
		for loop, f := range o.owners {
			if loop != o.rest {
				take(f, &out, live)
			}
		}
		o.keepLabels(&out, live, func(owner string) bool { return owner != o.rest })
		return out
	}
	out := clone(live)
	take(o.owners[writer], &out, desired)
	o.keepLabels(&out, desired, func(owner string) bool { return owner == writer })
	return out
}

// Owned returns spec with only the labels loop owns, for comparing what a
// loop wrote with what it wants (the other fields are left for the caller's
// projection to ignore).
func (o Ownership) Owned(loop string, spec swarm.ServiceSpec) swarm.ServiceSpec {
	out := spec
	out.Labels = map[string]string{}
	for k, v := range spec.Labels {
		if o.LabelOwner(k) == loop {
			out.Labels[k] = v
		}
	}
	return out
}

// keepLabels makes dst's labels owned by a loop selected by from equal to
// src's: it drops dst's and copies src's.
func (o Ownership) keepLabels(dst *swarm.ServiceSpec, src swarm.ServiceSpec, from func(owner string) bool) {
	labels := map[string]string{}
	for k, v := range dst.Labels {
		if !from(o.LabelOwner(k)) {
			labels[k] = v
		}
	}
	for k, v := range src.Labels {
		if from(o.LabelOwner(k)) {
			labels[k] = v
		}
	}
	dst.Labels = labels
}

// take copies into dst the non-label fields f owns from src.
func take(f Fields, dst *swarm.ServiceSpec, src swarm.ServiceSpec) {
	if f.Replicas {
		switch {
		case src.Mode.Replicated != nil && dst.Mode.Replicated != nil:
			var r *uint64
			if src.Mode.Replicated.Replicas != nil {
				v := *src.Mode.Replicated.Replicas
				r = &v
			}
			dst.Mode.Replicated = &swarm.ReplicatedService{Replicas: r}
		case src.Mode.Replicated == nil:
			// Swarm cannot change a service's mode: sending src's mode
			// makes the update fail loudly instead of silently rescaling.
			dst.Mode = src.Mode
		}
	}
	if f.ForceUpdate {
		dst.TaskTemplate.ForceUpdate = src.TaskTemplate.ForceUpdate
	}
}

// clone copies spec deeply enough to be edited and sent: the Docker client
// rewrites ContainerSpec.Image in place, and Merge edits the mode and
// labels; everything else is only read.
func clone(spec swarm.ServiceSpec) swarm.ServiceSpec {
	out := spec
	out.Labels = maps.Clone(spec.Labels)
	if cs := spec.TaskTemplate.ContainerSpec; cs != nil {
		c := *cs
		out.TaskTemplate.ContainerSpec = &c
	}
	if r := spec.Mode.Replicated; r != nil {
		c := *r
		if r.Replicas != nil {
			v := *r.Replicas
			c.Replicas = &v
		}
		out.Mode.Replicated = &c
	}
	return out
}
