package servicespec

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/swarm"
)

func contains(s, sub string) bool { return strings.Contains(s, sub) }

func TestProjectRoundTrip(t *testing.T) {
	t.Parallel()
	variants := map[string]func(*Desired){
		"full":            func(*Desired) {},
		"no healthcheck":  func(d *Desired) { d.HealthCheck = nil },
		"no resources":    func(d *Desired) { d.CPUMillis, d.MemoryMB = 0, 0 },
		"no env no port":  func(d *Desired) { d.Env, d.Port = nil, 0 },
		"no command":      func(d *Desired) { d.Command = nil },
		"no networks":     func(d *Desired) { d.Networks = nil },
		"default timings": func(d *Desired) { d.StopGracePeriod, d.UpdateMonitor = 0, 0 },
		"image id":        func(d *Desired) { d.Image = "sha256:6fb369e54501e364fb948327e6462a2fd3aaf013b4b6e425cc60209b9fa787bb" },
	}
	for name, tweak := range variants {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			d := baseDesired()
			tweak(&d)
			spec := Render(d)
			want := Project(spec)
			got := Project(asReturnedByEngine(t, spec))
			if !want.Equal(got) {
				t.Errorf("round trip changed the projection: %v", Diff(want, got))
			}
			if TemplateHash(want) != TemplateHash(got) {
				t.Error("round trip changed the hash")
			}
		})
	}
}

// TestProjectSemanticEquality lists pairs that are the same service to Swarm
// and must project equal, so they never trigger an update.
func TestProjectSemanticEquality(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		a, b func(*swarm.ServiceSpec)
	}{
		{"nil vs default update config",
			func(s *swarm.ServiceSpec) { s.UpdateConfig, s.RollbackConfig = nil, nil },
			func(s *swarm.ServiceSpec) {
				s.UpdateConfig = &swarm.UpdateConfig{Parallelism: 1, FailureAction: "pause", Monitor: 5 * time.Second, Order: "stop-first"}
				s.RollbackConfig = &swarm.UpdateConfig{Parallelism: 1}
			}},
		{"nil vs default restart policy",
			func(s *swarm.ServiceSpec) { s.TaskTemplate.RestartPolicy = nil },
			func(s *swarm.ServiceSpec) {
				s.TaskTemplate.RestartPolicy = &swarm.RestartPolicy{Condition: "any", Delay: ptr(5 * time.Second), MaxAttempts: ptr(uint64(0)), Window: ptr(time.Duration(0))}
			}},
		{"nil vs vip endpoint",
			func(s *swarm.ServiceSpec) { s.EndpointSpec = nil },
			func(s *swarm.ServiceSpec) {
				s.EndpointSpec = &swarm.EndpointSpec{Mode: "vip", Ports: []swarm.PortConfig{}}
			}},
		{"nil vs 10s grace period",
			func(s *swarm.ServiceSpec) { s.TaskTemplate.ContainerSpec.StopGracePeriod = nil },
			func(s *swarm.ServiceSpec) { s.TaskTemplate.ContainerSpec.StopGracePeriod = ptr(10 * time.Second) }},
		{"nil vs empty resources",
			func(s *swarm.ServiceSpec) { s.TaskTemplate.Resources = nil },
			func(s *swarm.ServiceSpec) {
				s.TaskTemplate.Resources = &swarm.ResourceRequirements{Limits: &swarm.Limit{}, Reservations: &swarm.Resources{}}
			}},
		{"untagged vs client-tagged image",
			func(s *swarm.ServiceSpec) { s.TaskTemplate.ContainerSpec.Image = "nginx" },
			func(s *swarm.ServiceSpec) { s.TaskTemplate.ContainerSpec.Image = "docker.io/library/nginx:latest" }},
		{"familiar vs fully qualified digest",
			func(s *swarm.ServiceSpec) {
				s.TaskTemplate.ContainerSpec.Image = "acme/web@sha256:" + strings.Repeat("a", 64)
			},
			func(s *swarm.ServiceSpec) {
				s.TaskTemplate.ContainerSpec.Image = "docker.io/acme/web@sha256:" + strings.Repeat("a", 64)
			}},
		{"constraint order",
			func(s *swarm.ServiceSpec) { s.TaskTemplate.Placement.Constraints = []string{"a==1", "b==2"} },
			func(s *swarm.ServiceSpec) { s.TaskTemplate.Placement.Constraints = []string{"b==2", "a==1"} }},
		{"platforms and isolation are not ours",
			func(s *swarm.ServiceSpec) {},
			func(s *swarm.ServiceSpec) {
				s.TaskTemplate.Placement.Platforms = []swarm.Platform{{OS: "linux"}}
				s.TaskTemplate.ContainerSpec.Isolation = "default"
				s.TaskTemplate.Runtime = "container"
			}},
		{"replicas force-update and other loops' labels are not ours",
			func(s *swarm.ServiceSpec) {},
			func(s *swarm.ServiceSpec) {
				s.Mode.Replicated.Replicas = ptr(uint64(9))
				s.TaskTemplate.ForceUpdate = 4
				s.Labels["traefik.http.routers.x.rule"] = "Host(`x`)"
				s.Labels[LabelSpecHash] = "0000000000000000"
			}},
		{"nil vs empty network aliases",
			func(s *swarm.ServiceSpec) { s.TaskTemplate.Networks[0].Aliases = nil },
			func(s *swarm.ServiceSpec) { s.TaskTemplate.Networks[0].Aliases = []string{} }},
		{"deprecated service-level networks",
			func(s *swarm.ServiceSpec) {},
			func(s *swarm.ServiceSpec) {
				s.Networks, s.TaskTemplate.Networks = s.TaskTemplate.Networks, nil
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			a, b := Render(baseDesired()), deepCopy(t, Render(baseDesired()))
			tc.a(&a)
			tc.b(&b)
			own := testOwnership(t)
			if pa, pb := Project(own.Owned("app", a)), Project(own.Owned("app", b)); !pa.Equal(pb) {
				t.Errorf("want equal projections, diff: %v", Diff(pa, pb))
			}
		})
	}
}

// TestDiffCoversEveryField changes each leaf of Owned in turn and requires that
// Diff, Equal and TemplateHash all notice: a field Diff forgot would make
// PlanApp write an update and report no reason for it.
func TestDiffCoversEveryField(t *testing.T) {
	t.Parallel()
	base := Project(Render(baseDesired()))
	typ := reflect.TypeOf(base)
	for i := range typ.NumField() {
		f := typ.Field(i)
		paths := [][]int{{i}}
		if f.Type.Kind() == reflect.Struct {
			paths = nil
			for j := range f.Type.NumField() {
				paths = append(paths, []int{i, j})
			}
		}
		for _, path := range paths {
			name := f.Name
			if len(path) == 2 {
				name += "." + f.Type.Field(path[1]).Name
			}
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				changed := Project(Render(baseDesired()))
				mutate(t, reflect.ValueOf(&changed).Elem().FieldByIndex(path))
				if base.Equal(changed) {
					t.Fatal("mutation not visible to Equal")
				}
				if d := Diff(changed, base); len(d) == 0 {
					t.Error("Diff reports nothing")
				}
				if TemplateHash(base) == TemplateHash(changed) {
					t.Error("TemplateHash unchanged")
				}
			})
		}
	}
}

// mutate changes v to a different value, whatever its kind.
func mutate(t *testing.T, v reflect.Value) {
	t.Helper()
	switch v.Kind() {
	case reflect.String:
		v.SetString(v.String() + "x")
	case reflect.Bool:
		v.SetBool(!v.Bool())
	case reflect.Int, reflect.Int64:
		v.SetInt(v.Int() + 1)
	case reflect.Uint64:
		v.SetUint(v.Uint() + 1)
	case reflect.Float32:
		v.SetFloat(v.Float() + 0.5)
	case reflect.Slice:
		elem := reflect.New(v.Type().Elem()).Elem()
		mutate(t, elem)
		v.Set(reflect.Append(v, elem))
	case reflect.Map:
		if v.IsNil() {
			v.Set(reflect.MakeMap(v.Type()))
		}
		v.SetMapIndex(reflect.ValueOf("paas.mutated"), reflect.ValueOf("x"))
	case reflect.Pointer:
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		mutate(t, v.Elem().Field(0))
	case reflect.Struct:
		mutate(t, v.Field(0))
	default:
		t.Fatalf("mutate: add a case for %s", v.Type())
	}
}

func TestDiff(t *testing.T) {
	t.Parallel()
	observed := Project(Render(baseDesired()))
	tests := []struct {
		name  string
		tweak func(*Desired)
		want  []string // FieldDiff.String() of every entry, in order
	}{
		{"equal", func(*Desired) {}, nil},
		{"env added", func(d *Desired) { d.Env["NEW_SECRET"] = testSecret }, []string{"env NEW_SECRET added"}},
		{"env removed", func(d *Desired) { delete(d.Env, "DATABASE_URL") }, []string{"env DATABASE_URL removed"}},
		{"env changed", func(d *Desired) { d.Env["DATABASE_URL"] = "postgres://other:" + testSecret + "x@db" }, []string{"env DATABASE_URL changed"}},
		{"image", func(d *Desired) { d.Image = "registry.local/acme/web:2" }, []string{"image: " + testImage + " -> registry.local/acme/web:2"}},
		{"new release", func(d *Desired) { d.Release = 8 }, []string{"container label paas.release: 7 -> 8", "label paas.release: 7 -> 8"}},
		{"limits", func(d *Desired) { d.CPUMillis, d.MemoryMB = 1000, 1024 }, []string{
			"limits.cpu: 0.5 CPU -> 1 CPU", "limits.memory: 512MiB -> 1024MiB", "reservations.cpu: 0.125 CPU -> 0.25 CPU", "reservations.memory: 128MiB -> 256MiB",
		}},
		{"healthcheck dropped", func(d *Desired) { d.HealthCheck = nil }, []string{
			`healthcheck: <redacted> interval=5s timeout=2s start_period=10s retries=3 -> image default`,
		}},
		{"args changed: values never shown", func(d *Desired) { d.Command = []string{"--password=" + testSecret} }, []string{"args changed"}},
		{"healthcheck command changed", func(d *Desired) { d.HealthCheck.Command = []string{"/probe", "--token=" + testSecret} }, []string{"healthcheck changed"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			d := baseDesired()
			tc.tweak(&d)
			diffs := Diff(Project(Render(d)), observed)
			var got []string
			for _, f := range diffs {
				got = append(got, f.String())
				for _, s := range []string{f.Field, f.Before, f.After, f.String()} {
					if contains(s, testSecret) {
						t.Errorf("diff leaks a secret: %#v", f)
					}
				}
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Diff =\n%q\nwant\n%q", got, tc.want)
			}
		})
	}
}

func TestDiffLabels(t *testing.T) {
	t.Parallel()
	base := Project(Render(baseDesired()))
	with := Project(Render(baseDesired()))
	with.Labels = map[string]string{}
	for k, v := range base.Labels {
		with.Labels[k] = v
	}
	with.Labels["paas.x"] = "y"
	if got := Diff(with, base); len(got) != 1 || got[0].String() != "label paas.x added: y" {
		t.Errorf("Diff = %v, want [label paas.x added: y]", got)
	}
	if got := Diff(base, with); len(got) != 1 || got[0].String() != "label paas.x removed" {
		t.Errorf("Diff = %v, want [label paas.x removed]", got)
	}
}

func TestOwnedStringRedactsEnv(t *testing.T) {
	t.Parallel()
	o := Project(Render(baseDesired()))
	for _, s := range []string{o.String(), fmt.Sprintf("%v", o), fmt.Sprintf("%+v", o), fmt.Sprintf("%#v", o)} {
		if contains(s, testSecret) {
			t.Errorf("Owned printed an env value: %s", s)
		}
		if !contains(s, "DATABASE_URL") {
			t.Errorf("Owned should still name env keys: %s", s)
		}
	}
}

func TestTemplateHashIsStable(t *testing.T) {
	t.Parallel()
	// Map iteration order must not leak into the hash.
	for range 20 {
		if a, b := TemplateHash(Project(Render(baseDesired()))), Render(baseDesired()).Labels[LabelSpecHash]; a != b {
			t.Fatalf("hash differs between runs: %s vs %s", a, b)
		}
	}
}
