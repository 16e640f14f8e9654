package servicespec

import (
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/docker/api/types/swarm"
)

const (
	testImage  = "registry.local/acme/web@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	testSecret = "hunter2-very-secret"
)

// baseDesired is a fully populated Desired; tests copy and tweak it.
func baseDesired() Desired {
	return Desired{
		InstanceID:  "inst-1",
		AppID:       "6f1c1f5e-0000-4000-8000-000000000001",
		AppName:     "web",
		OrgID:       "6f1c1f5e-0000-4000-8000-0000000000aa",
		ServiceName: "paas-web-6f1c1f5e",
		Image:       testImage,
		ImageRef:    "registry.local/acme/web:1.2",
		Command:     []string{"-listen", ":8080"},
		Env:         map[string]string{"ZETA": "z", "DATABASE_URL": "postgres://u:" + testSecret + "@db/app", "ALPHA": "a"},
		Port:        8080,
		CPUMillis:   500,
		MemoryMB:    512,
		HealthCheck: &HealthCheck{
			Command:     []string{"/testapp", "-healthcheck", "http://127.0.0.1:8080/health"},
			Interval:    5 * time.Second,
			Timeout:     2 * time.Second,
			StartPeriod: 10 * time.Second,
			Retries:     3,
		},
		Networks:        []string{"n8tzk0toe6xm0000000000000"},
		Release:         7,
		UpdateMonitor:   15 * time.Second,
		StopGracePeriod: 20 * time.Second,
	}
}

// deepCopy copies a spec through JSON, as the wire does: omitempty drops empty
// slices and maps, so what comes back has nil where the sender had empty.
func deepCopy(t *testing.T, spec swarm.ServiceSpec) swarm.ServiceSpec {
	t.Helper()
	b, err := json.Marshal(spec)
	if err != nil {
		t.Fatal(err)
	}
	var out swarm.ServiceSpec
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// asReturnedByEngine is spec as Docker 20.10 hands it back from
// ServiceInspectWithRaw (with InsertDefaults) or ServiceList, plus what the
// docker CLI adds on its own writes. Every change here was seen on the live
// engine or is documented client behaviour; Project must see through all of them.
func asReturnedByEngine(t *testing.T, spec swarm.ServiceSpec) swarm.ServiceSpec {
	t.Helper()
	out := deepCopy(t, spec)
	tt := &out.TaskTemplate
	tt.Runtime = swarm.RuntimeContainer
	cs := tt.ContainerSpec
	cs.Isolation = container.IsolationDefault
	if cs.DNSConfig == nil {
		cs.DNSConfig = &swarm.DNSConfig{}
	}
	if cs.StopGracePeriod == nil {
		d := 10 * time.Second
		cs.StopGracePeriod = &d
	}
	cs.Mounts = []mount.Mount{}
	cs.Hosts = []string{}
	slices.Reverse(cs.Env) // nothing guarantees order survives a hand edit
	if cs.Labels == nil {
		cs.Labels = map[string]string{}
	}
	if tt.Resources == nil {
		tt.Resources = &swarm.ResourceRequirements{}
	}
	if tt.RestartPolicy == nil {
		tt.RestartPolicy = &swarm.RestartPolicy{Condition: swarm.RestartPolicyConditionAny}
	}
	if tt.RestartPolicy.Delay == nil {
		d := 5 * time.Second
		tt.RestartPolicy.Delay = &d
	}
	if tt.RestartPolicy.MaxAttempts == nil {
		var z uint64
		tt.RestartPolicy.MaxAttempts = &z
	}
	if tt.Placement == nil {
		tt.Placement = &swarm.Placement{}
	}
	// The docker CLI records the image's platforms when it can reach a registry.
	tt.Placement.Platforms = []swarm.Platform{{Architecture: "amd64", OS: "linux"}}
	for i := range tt.Networks {
		tt.Networks[i].DriverOpts = map[string]string{}
	}
	out.Networks = []swarm.NetworkAttachmentConfig{} // the deprecated service-level field comes back empty
	def := swarm.UpdateConfig{Parallelism: 1, FailureAction: "pause", Monitor: 5 * time.Second, Order: "stop-first"}
	if out.UpdateConfig == nil {
		u := def
		out.UpdateConfig = &u
	}
	if out.RollbackConfig == nil {
		r := def
		out.RollbackConfig = &r
	}
	if out.EndpointSpec == nil {
		out.EndpointSpec = &swarm.EndpointSpec{Mode: swarm.ResolutionModeVIP}
	}
	if out.Labels == nil {
		out.Labels = map[string]string{}
	}
	return out
}

// observedService wraps a spec as a live service with the fields other loops own set.
func observedService(spec swarm.ServiceSpec, replicas, force uint64, extraLabels map[string]string) *swarm.Service {
	spec.Mode = swarm.ServiceMode{Replicated: &swarm.ReplicatedService{Replicas: &replicas}}
	spec.TaskTemplate.ForceUpdate = force
	for k, v := range extraLabels {
		spec.Labels[k] = v
	}
	return &swarm.Service{ID: "svc1", Meta: swarm.Meta{Version: swarm.Version{Index: 42}}, Spec: spec}
}

func ptr[T any](v T) *T { return &v }

// testOwnership is the platform's declared ownership: the app loop owns the
// rest (and says so for paas.*), the scale loop the replicas and restart
// counter, the domain loop every traefik.* label.
func testOwnership(t *testing.T) Ownership {
	t.Helper()
	own, err := NewOwnership(map[string]Fields{
		"app":    {Rest: true, LabelPrefixes: []string{LabelPrefix}},
		"scale":  {Replicas: true, ForceUpdate: true},
		"domain": {LabelPrefixes: []string{"traefik."}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return own
}
