package servicespec

import (
	"strings"
	"testing"

	"github.com/docker/docker/api/types/swarm"
)

func TestPlanApp(t *testing.T) {
	t.Parallel()
	foreign := map[string]string{"traefik.enable": "true", "traefik.http.routers.web.rule": "Host(`web.example`)"}

	// live is the current release as the engine returns it, scaled and routed by the other loops.
	live := func(t *testing.T, d Desired) *swarm.Service {
		return observedService(asReturnedByEngine(t, Render(d)), 3, 2, foreign)
	}

	tests := []struct {
		name       string
		desired    func(*Desired)
		observed   func(t *testing.T) *swarm.Service
		wantAction Action
		wantReason string
		wantDrift  []string
	}{
		{
			name:       "no service: create",
			observed:   func(*testing.T) *swarm.Service { return nil },
			wantAction: ActionCreate, wantReason: ReasonCreated,
		},
		{
			name:       "equal despite replicas, force update, traefik labels and engine defaults",
			observed:   func(t *testing.T) *swarm.Service { return live(t, baseDesired()) },
			wantAction: ActionNone, wantReason: ReasonUpToDate,
		},
		{
			name: "hand-scaled only: not ours",
			observed: func(t *testing.T) *swarm.Service {
				s := live(t, baseDesired())
				s.Spec.Mode.Replicated.Replicas = ptr(uint64(9))
				return s
			},
			wantAction: ActionNone, wantReason: ReasonUpToDate,
		},
		{
			name: "hand-edited env: drift reverted",
			observed: func(t *testing.T) *swarm.Service {
				s := live(t, baseDesired())
				cs := s.Spec.TaskTemplate.ContainerSpec
				cs.Env = append(cs.Env, "DEBUG=1")
				return s
			},
			wantAction: ActionUpdate, wantReason: ReasonDriftReverted,
			wantDrift: []string{"env DEBUG removed"},
		},
		{
			name: "hand-edited image and foreign paas label: drift reverted",
			observed: func(t *testing.T) *swarm.Service {
				s := live(t, baseDesired())
				s.Spec.TaskTemplate.ContainerSpec.Image = "evil:latest"
				s.Spec.Labels["paas.extra"] = "1"
				return s
			},
			wantAction: ActionUpdate, wantReason: ReasonDriftReverted,
			wantDrift: []string{"image: evil:latest -> " + testImage, "label paas.extra removed"},
		},
		{
			name: "hand-added label no loop owns: drift reverted, other loops' labels kept",
			observed: func(t *testing.T) *swarm.Service {
				s := live(t, baseDesired())
				s.Spec.Labels["foo"] = "bar"
				return s
			},
			wantAction: ActionUpdate, wantReason: ReasonDriftReverted,
			wantDrift: []string{"label foo removed"},
		},
		{
			name: "hand-added traefik label: the domain loop's to judge",
			observed: func(t *testing.T) *swarm.Service {
				s := live(t, baseDesired())
				s.Spec.Labels["traefik.http.routers.evil.rule"] = "Host(`evil.example`)"
				return s
			},
			wantAction: ActionNone, wantReason: ReasonUpToDate,
		},
		{
			name:    "new release: spec changed",
			desired: func(d *Desired) { d.Release = 8; d.Env["NEW"] = testSecret },
			observed: func(t *testing.T) *swarm.Service {
				return live(t, baseDesired())
			},
			wantAction: ActionUpdate, wantReason: ReasonSpecChanged,
			wantDrift: []string{"env NEW added", "container label paas.release: 7 -> 8", "label paas.release: 7 -> 8"},
		},
		{
			name:    "service of another installation is never touched",
			desired: func(d *Desired) { d.InstanceID = "inst-2" },
			observed: func(t *testing.T) *swarm.Service {
				return live(t, baseDesired())
			},
			wantAction: ActionNone, wantReason: ReasonNotOwned,
		},
		{
			name:       "deleting with a service",
			desired:    func(d *Desired) { d.Deleting = true },
			observed:   func(t *testing.T) *swarm.Service { return live(t, baseDesired()) },
			wantAction: ActionDelete, wantReason: ReasonDeleting,
		},
		{
			name:       "deleting without a service",
			desired:    func(d *Desired) { d.Deleting = true },
			observed:   func(*testing.T) *swarm.Service { return nil },
			wantAction: ActionNone, wantReason: ReasonDeleted,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			d := baseDesired()
			if tc.desired != nil {
				tc.desired(&d)
			}
			obs := tc.observed(t)
			p := PlanApp(d, obs, testOwnership(t), "app")
			if p.Action != tc.wantAction || p.Reason != tc.wantReason {
				t.Fatalf("PlanApp = %s/%s, want %s/%s (drift %v)", p.Action, p.Reason, tc.wantAction, tc.wantReason, p.Drift)
			}
			var drift []string
			for _, f := range p.Drift {
				drift = append(drift, f.String())
				if strings.Contains(f.String(), testSecret) {
					t.Errorf("drift leaks an env value: %s", f)
				}
			}
			if strings.Join(drift, "|") != strings.Join(tc.wantDrift, "|") {
				t.Errorf("Drift = %q, want %q", drift, tc.wantDrift)
			}

			switch p.Action {
			case ActionCreate:
				if p.Spec.Mode.Replicated == nil || p.Spec.Mode.Replicated.Replicas == nil {
					t.Error("create spec must carry the replicas placeholder for the caller to set")
				}
			case ActionUpdate:
				checkUpdateSpec(t, d, obs, p.Spec)
			}
		})
	}
}

// checkUpdateSpec asserts an update writes our fields and keeps everyone else's.
func checkUpdateSpec(t *testing.T, d Desired, obs *swarm.Service, spec swarm.ServiceSpec) {
	t.Helper()
	if got, want := *spec.Mode.Replicated.Replicas, *obs.Spec.Mode.Replicated.Replicas; got != want {
		t.Errorf("replicas = %d, want observed %d", got, want)
	}
	if spec.Mode.Replicated.Replicas == obs.Spec.Mode.Replicated.Replicas {
		t.Error("replicas pointer aliases the observed spec")
	}
	if spec.TaskTemplate.ForceUpdate != obs.Spec.TaskTemplate.ForceUpdate {
		t.Errorf("ForceUpdate = %d, want observed %d", spec.TaskTemplate.ForceUpdate, obs.Spec.TaskTemplate.ForceUpdate)
	}
	for k, v := range obs.Spec.Labels {
		if testOwnership(t).LabelOwner(k) != "app" && spec.Labels[k] != v {
			t.Errorf("foreign label %s = %q, want observed %q", k, spec.Labels[k], v)
		}
	}
	rendered := Render(d)
	for k, v := range spec.Labels {
		if testOwnership(t).LabelOwner(k) == "app" && rendered.Labels[k] != v {
			t.Errorf("label %s = %q, want rendered %q", k, v, rendered.Labels[k])
		}
	}
	if !Project(testOwnership(t).Owned("app", spec)).Equal(Project(rendered)) {
		t.Errorf("update spec differs from rendered: %v", Diff(Project(rendered), Project(spec)))
	}
	// After the write, the next reconcile must see nothing to do.
	after := observedService(asReturnedByEngine(t, spec), *spec.Mode.Replicated.Replicas, spec.TaskTemplate.ForceUpdate, nil)
	if p := PlanApp(d, after, testOwnership(t), "app"); p.Action != ActionNone {
		t.Errorf("after applying the update PlanApp = %s/%s %v, want none", p.Action, p.Reason, p.Drift)
	}
}

func TestPlanAppKeepsModeItCannotChange(t *testing.T) {
	t.Parallel()
	d := baseDesired()
	spec := asReturnedByEngine(t, Render(d))
	spec.Mode = swarm.ServiceMode{Global: &swarm.GlobalService{}}
	spec.TaskTemplate.ContainerSpec.Image = "other:1"
	p := PlanApp(d, &swarm.Service{Spec: spec}, testOwnership(t), "app")
	if p.Action != ActionUpdate || p.Spec.Mode.Global == nil || p.Spec.Mode.Replicated != nil {
		t.Errorf("PlanApp = %s, mode %+v: must not turn a global service into a 0-replica one", p.Action, p.Spec.Mode)
	}
}

func TestPlanScale(t *testing.T) {
	t.Parallel()
	svc := func(replicas *uint64, force uint64) swarm.Service {
		return swarm.Service{Spec: swarm.ServiceSpec{
			Mode:         swarm.ServiceMode{Replicated: &swarm.ReplicatedService{Replicas: replicas}},
			TaskTemplate: swarm.TaskSpec{ForceUpdate: force},
		}}
	}
	tests := []struct {
		name             string
		desired, counter uint64
		observed         swarm.Service
		want             ScalePlan
	}{
		{"up to date", 2, 1, svc(ptr(uint64(2)), 1), ScalePlan{Update: false, Replicas: 2, ForceUpdate: 1, Before: 2, Reason: ReasonUpToDate}},
		{"hand-scaled 9 back to 2", 2, 1, svc(ptr(uint64(9)), 1), ScalePlan{Update: true, Replicas: 2, ForceUpdate: 1, Before: 9, Reason: ReasonScaled}},
		{"suspended to 0", 0, 0, svc(ptr(uint64(3)), 0), ScalePlan{Update: true, Replicas: 0, ForceUpdate: 0, Before: 3, Reason: ReasonScaled}},
		{"restart requested", 2, 4, svc(ptr(uint64(2)), 3), ScalePlan{Update: true, Replicas: 2, ForceUpdate: 4, Before: 2, Reason: ReasonRestarted}},
		{"scale and restart", 5, 1, svc(ptr(uint64(2)), 0), ScalePlan{Update: true, Replicas: 5, ForceUpdate: 1, Before: 2, Reason: ReasonScaledAndRestarted}},
		{"hand --force is set back to the counter", 2, 3, svc(ptr(uint64(2)), 5), ScalePlan{Update: true, Replicas: 2, ForceUpdate: 3, Before: 2, Reason: ReasonRestarted}},
		{"nil replicas read as 0", 1, 0, svc(nil, 0), ScalePlan{Update: true, Replicas: 1, ForceUpdate: 0, Before: 0, Reason: ReasonScaled}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := PlanScale(tc.desired, tc.counter, tc.observed); got != tc.want {
				t.Errorf("PlanScale = %+v, want %+v", got, tc.want)
			}
		})
	}
}
