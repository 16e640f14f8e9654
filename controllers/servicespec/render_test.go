package servicespec

import (
	"reflect"
	"testing"
	"time"

	"github.com/docker/docker/api/types/swarm"
)

func TestRender(t *testing.T) {
	t.Parallel()
	d := baseDesired()
	spec := Render(d)
	cs := spec.TaskTemplate.ContainerSpec

	t.Run("name and service labels", func(t *testing.T) {
		t.Parallel()
		if spec.Name != d.ServiceName {
			t.Errorf("Name = %q, want %q", spec.Name, d.ServiceName)
		}
		want := map[string]string{
			LabelManaged:  "true",
			LabelInstance: d.InstanceID,
			LabelAppID:    d.AppID,
			LabelAppName:  d.AppName,
			LabelOrgID:    d.OrgID,
			LabelRelease:  "7",
			LabelImage:    d.ImageRef,
			LabelSpecHash: TemplateHash(Project(spec)),
		}
		if !reflect.DeepEqual(spec.Labels, want) {
			t.Errorf("Labels = %v\nwant %v", spec.Labels, want)
		}
		if len(spec.Labels[LabelSpecHash]) != 16 {
			t.Errorf("spec hash %q: want 16 hex chars", spec.Labels[LabelSpecHash])
		}
	})

	t.Run("container", func(t *testing.T) {
		t.Parallel()
		if cs.Image != testImage {
			t.Errorf("Image = %q", cs.Image)
		}
		if !reflect.DeepEqual(cs.Args, d.Command) || cs.Command != nil {
			t.Errorf("Args = %v, Command = %v: command must replace CMD (Args) and keep ENTRYPOINT", cs.Args, cs.Command)
		}
		if cs.Labels[LabelRelease] != "7" || cs.Labels[LabelAppID] != d.AppID || cs.Labels[LabelInstance] != d.InstanceID {
			t.Errorf("container labels = %v", cs.Labels)
		}
		if _, ok := cs.Labels[LabelSpecHash]; ok {
			t.Error("container labels must not carry the spec hash")
		}
		if cs.StopGracePeriod == nil || *cs.StopGracePeriod != 20*time.Second {
			t.Errorf("StopGracePeriod = %v", cs.StopGracePeriod)
		}
	})

	t.Run("env sorted by key with PORT", func(t *testing.T) {
		t.Parallel()
		want := []string{"ALPHA=a", "DATABASE_URL=postgres://u:" + testSecret + "@db/app", "PORT=8080", "ZETA=z"}
		if !reflect.DeepEqual(cs.Env, want) {
			t.Errorf("Env = %v\nwant %v", cs.Env, want)
		}
	})

	t.Run("resources", func(t *testing.T) {
		t.Parallel()
		r := spec.TaskTemplate.Resources
		if r.Limits.NanoCPUs != 500_000_000 || r.Limits.MemoryBytes != 536_870_912 {
			t.Errorf("Limits = %+v, want 0.5 CPU = 500000000 and 512 MiB = 536870912", *r.Limits)
		}
		if r.Reservations.NanoCPUs != 125_000_000 || r.Reservations.MemoryBytes != 134_217_728 {
			t.Errorf("Reservations = %+v, want a quarter of the limits", *r.Reservations)
		}
	})

	t.Run("healthcheck", func(t *testing.T) {
		t.Parallel()
		h := cs.Healthcheck
		wantTest := []string{"CMD", "/testapp", "-healthcheck", "http://127.0.0.1:8080/health"}
		if h == nil || !reflect.DeepEqual(h.Test, wantTest) || h.Interval != 5*time.Second || h.Timeout != 2*time.Second || h.StartPeriod != 10*time.Second || h.Retries != 3 {
			t.Errorf("Healthcheck = %+v", h)
		}
	})

	t.Run("update and rollback", func(t *testing.T) {
		t.Parallel()
		wantU := swarm.UpdateConfig{Parallelism: 1, FailureAction: "rollback", Monitor: 15 * time.Second, Order: "start-first"}
		if !reflect.DeepEqual(*spec.UpdateConfig, wantU) {
			t.Errorf("UpdateConfig = %+v", *spec.UpdateConfig)
		}
		wantR := swarm.UpdateConfig{Parallelism: 1, FailureAction: "pause", Monitor: 15 * time.Second, Order: "start-first"}
		if !reflect.DeepEqual(*spec.RollbackConfig, wantR) {
			t.Errorf("RollbackConfig = %+v", *spec.RollbackConfig)
		}
	})

	t.Run("restart placement network endpoint mode", func(t *testing.T) {
		t.Parallel()
		rp := spec.TaskTemplate.RestartPolicy
		if rp.Condition != swarm.RestartPolicyConditionAny || *rp.Delay != 5*time.Second || *rp.MaxAttempts != 0 || rp.Window != nil {
			t.Errorf("RestartPolicy = %+v", rp)
		}
		prefs := spec.TaskTemplate.Placement.Preferences
		if len(prefs) != 1 || prefs[0].Spread.SpreadDescriptor != "node.id" {
			t.Errorf("Preferences = %+v", prefs)
		}
		wantNets := []swarm.NetworkAttachmentConfig{{Target: d.Networks[0], Aliases: []string{d.ServiceName}}}
		if !reflect.DeepEqual(spec.TaskTemplate.Networks, wantNets) {
			t.Errorf("Networks = %+v", spec.TaskTemplate.Networks)
		}
		if spec.EndpointSpec.Mode != swarm.ResolutionModeVIP || len(spec.EndpointSpec.Ports) != 0 {
			t.Errorf("EndpointSpec = %+v: want vip and no published ports", spec.EndpointSpec)
		}
		if spec.Mode.Replicated == nil || spec.Mode.Replicated.Replicas == nil || *spec.Mode.Replicated.Replicas != 0 {
			t.Errorf("Mode = %+v: want replicated with a 0 placeholder", spec.Mode)
		}
		if spec.TaskTemplate.ForceUpdate != 0 {
			t.Errorf("ForceUpdate = %d", spec.TaskTemplate.ForceUpdate)
		}
	})
}

func TestRenderVariants(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		tweak func(*Desired)
		check func(t *testing.T, s swarm.ServiceSpec)
	}{
		{"no healthcheck leaves the image's", func(d *Desired) { d.HealthCheck = nil }, func(t *testing.T, s swarm.ServiceSpec) {
			if s.TaskTemplate.ContainerSpec.Healthcheck != nil {
				t.Errorf("Healthcheck = %+v, want nil", s.TaskTemplate.ContainerSpec.Healthcheck)
			}
		}},
		{"empty healthcheck command disables the image's", func(d *Desired) { d.HealthCheck = &HealthCheck{} }, func(t *testing.T, s swarm.ServiceSpec) {
			if h := s.TaskTemplate.ContainerSpec.Healthcheck; h == nil || !reflect.DeepEqual(h.Test, []string{"NONE"}) {
				t.Errorf("Healthcheck = %+v, want Test [NONE]", h)
			}
		}},
		{"user PORT is overridden", func(d *Desired) { d.Env = map[string]string{"PORT": "1"} }, func(t *testing.T, s swarm.ServiceSpec) {
			if got := s.TaskTemplate.ContainerSpec.Env; !reflect.DeepEqual(got, []string{"PORT=8080"}) {
				t.Errorf("Env = %v", got)
			}
		}},
		{"no port no env", func(d *Desired) { d.Env, d.Port = nil, 0 }, func(t *testing.T, s swarm.ServiceSpec) {
			if s.TaskTemplate.ContainerSpec.Env != nil {
				t.Errorf("Env = %v, want nil", s.TaskTemplate.ContainerSpec.Env)
			}
		}},
		{"unlimited resources", func(d *Desired) { d.CPUMillis, d.MemoryMB = 0, 0 }, func(t *testing.T, s swarm.ServiceSpec) {
			if s.TaskTemplate.Resources != nil {
				t.Errorf("Resources = %+v, want nil", s.TaskTemplate.Resources)
			}
		}},
		{"memory only", func(d *Desired) { d.CPUMillis = 0 }, func(t *testing.T, s swarm.ServiceSpec) {
			if l := s.TaskTemplate.Resources.Limits; l.NanoCPUs != 0 || l.MemoryBytes != 536_870_912 {
				t.Errorf("Limits = %+v", l)
			}
		}},
		{"2 CPUs", func(d *Desired) { d.CPUMillis = 2000 }, func(t *testing.T, s swarm.ServiceSpec) {
			if n := s.TaskTemplate.Resources.Limits.NanoCPUs; n != 2_000_000_000 {
				t.Errorf("NanoCPUs = %d", n)
			}
		}},
		{"no command keeps CMD", func(d *Desired) { d.Command = []string{} }, func(t *testing.T, s swarm.ServiceSpec) {
			if s.TaskTemplate.ContainerSpec.Args != nil {
				t.Errorf("Args = %v, want nil", s.TaskTemplate.ContainerSpec.Args)
			}
		}},
		{"zero grace period is Docker's default", func(d *Desired) { d.StopGracePeriod = 0 }, func(t *testing.T, s swarm.ServiceSpec) {
			if s.TaskTemplate.ContainerSpec.StopGracePeriod != nil {
				t.Errorf("StopGracePeriod = %v, want nil", *s.TaskTemplate.ContainerSpec.StopGracePeriod)
			}
		}},
		{"networks in order", func(d *Desired) { d.Networks = []string{"b", "a"} }, func(t *testing.T, s swarm.ServiceSpec) {
			n := s.TaskTemplate.Networks
			if len(n) != 2 || n[0].Target != "b" || n[1].Target != "a" {
				t.Errorf("Networks = %+v", n)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			d := baseDesired()
			tc.tweak(&d)
			tc.check(t, Render(d))
		})
	}
}

func TestRenderIsDeterministicAndDoesNotAlias(t *testing.T) {
	t.Parallel()
	d := baseDesired()
	a, b := Render(d), Render(d)
	if !reflect.DeepEqual(a, b) {
		t.Fatal("Render is not deterministic")
	}
	a.TaskTemplate.ContainerSpec.Args[0] = "mutated"
	a.TaskTemplate.ContainerSpec.Healthcheck.Test[1] = "mutated"
	if d.Command[0] == "mutated" || d.HealthCheck.Command[0] == "mutated" {
		t.Error("Render's result aliases the Desired's slices")
	}
}

func TestDesiredStringRedactsEnv(t *testing.T) {
	t.Parallel()
	d := baseDesired()
	for _, s := range []string{d.String(), d.GoString()} {
		if contains(s, testSecret) {
			t.Errorf("Desired printed an env value: %s", s)
		}
	}
}
