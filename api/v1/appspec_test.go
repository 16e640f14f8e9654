package v1

import (
	"slices"
	"testing"

	"github.com/google/uuid"

	"github.com/skypanel/paas/store"
	"github.com/skypanel/paas/store/spec"
)

func baseDesired() desired {
	return desired{
		Image: "nginx:1", Replicas: 2, Port: 8080, Command: []string{"serve"},
		Plan:        store.Plan{ID: uuid.MustParse("00000000-0000-0000-0000-000000000001"), Name: "hobby"},
		HealthCheck: &store.HealthCheck{Path: "/healthz"}, Env: map[string]string{"A": "1"},
	}
}

// releaseEdits changes each field of spec.Release in a desired spec, by the
// field's JSON name.
var releaseEdits = map[string]func(*desired){
	"image":        func(d *desired) { d.Image = "nginx:2" },
	"command":      func(d *desired) { d.Command = []string{"serve", "--debug"} },
	"port":         func(d *desired) { d.Port = 9090 },
	"plan_id":      func(d *desired) { d.Plan.ID = uuid.MustParse("00000000-0000-0000-0000-000000000002") },
	"health_check": func(d *desired) { d.HealthCheck = nil },
	"env":          func(d *desired) { d.Env["B"] = "2" },
}

func TestDiffDesired(t *testing.T) {
	cases := []struct {
		name         string
		from         func(*desired) // the current spec, from baseDesired
		edit         func(*desired) // the next spec, from the current one
		fields       []string
		spec, cuts   bool
		envSet       []string
		envDel       []string
		wantNoChange bool
	}{
		{name: "nothing", edit: func(*desired) {}, wantNoChange: true},
		{name: "nil and empty command are one", from: func(d *desired) { d.Command = nil },
			edit: func(d *desired) { d.Command = []string{} }, wantNoChange: true},
		{name: "nil and empty env are one", from: func(d *desired) { d.Env = nil },
			edit: func(d *desired) { d.Env = map[string]string{} }, wantNoChange: true},
		{name: "image", edit: releaseEdits["image"], fields: []string{"image"}, spec: true, cuts: true},
		{name: "replicas", edit: func(d *desired) { d.Replicas = 5 }, fields: []string{"replicas"}, spec: true},
		{name: "stopped", edit: func(d *desired) { d.Stopped = true }, fields: []string{"stopped"}, spec: true},
		{name: "port", edit: releaseEdits["port"], fields: []string{"port"}, spec: true, cuts: true},
		{name: "command", edit: releaseEdits["command"], fields: []string{"command"}, spec: true, cuts: true},
		{name: "plan", edit: releaseEdits["plan_id"], fields: []string{"plan"}, spec: true, cuts: true},
		{name: "plan renamed", edit: func(d *desired) { d.Plan.Name = "pro" }, wantNoChange: true},
		{name: "health check", edit: func(d *desired) { d.HealthCheck.Retries = 5 }, fields: []string{"health_check"}, spec: true, cuts: true},
		{name: "env set", edit: releaseEdits["env"], fields: []string{"env"}, cuts: true, envSet: []string{"B"}},
		{name: "env removed", edit: func(d *desired) { delete(d.Env, "A") }, fields: []string{"env"}, cuts: true, envDel: []string{"A"}},
		{name: "scale and image", edit: func(d *desired) { d.Replicas, d.Image = 0, "nginx:2" },
			fields: []string{"image", "replicas"}, spec: true, cuts: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cur := baseDesired()
			if tc.from != nil {
				tc.from(&cur)
			}
			next := cur.clone()
			tc.edit(&next)
			ch := diffDesired(cur, next)
			if ch.empty() != tc.wantNoChange {
				t.Fatalf("empty() = %v, want %v (fields %v)", ch.empty(), tc.wantNoChange, ch.Fields)
			}
			if !slices.Equal(ch.Fields, tc.fields) || ch.Spec != tc.spec || ch.Release != tc.cuts {
				t.Fatalf("fields %v spec %v release %v, want %v %v %v", ch.Fields, ch.Spec, ch.Release, tc.fields, tc.spec, tc.cuts)
			}
			if got := sortedKeys(ch.EnvSet); len(got)+len(tc.envSet) > 0 && !slices.Equal(got, tc.envSet) {
				t.Fatalf("env set %v, want %v", got, tc.envSet)
			}
			if !slices.Equal(ch.EnvDel, tc.envDel) {
				t.Fatalf("env removed %v, want %v", ch.EnvDel, tc.envDel)
			}
		})
	}
}

// TestDiffDesiredCutsForEveryReleaseField ties the API to spec.Release: a
// field added there must be settable here, and changing it cuts a release.
func TestDiffDesiredCutsForEveryReleaseField(t *testing.T) {
	for field := range spec.ReleaseColumns {
		edit, ok := releaseEdits[field]
		if !ok {
			t.Errorf("spec.Release field %q has no edit in releaseEdits: can the API write it?", field)
			continue
		}
		cur := baseDesired()
		next := cur.clone()
		edit(&next)
		if ch := diffDesired(cur, next); !ch.Release || ch.empty() {
			t.Errorf("changing %s: release %v, fields %v; want a release and a change", field, ch.Release, ch.Fields)
		}
	}
	for field := range releaseEdits {
		if _, ok := spec.ReleaseColumns[field]; !ok {
			t.Errorf("releaseEdits has %q, which spec.Release does not", field)
		}
	}
}
