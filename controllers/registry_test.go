package controllers_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/docker/docker/api/types"
	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/api/types/swarm"
	"github.com/google/uuid"

	"github.com/skypanel/paas/controllers"
	"github.com/skypanel/paas/controllers/runtime"
	"github.com/skypanel/paas/controllers/servicespec"
	"github.com/skypanel/paas/controllers/servicewrite"
	"github.com/skypanel/paas/controllers/status"
	"github.com/skypanel/paas/controllers/swarm/swarmtest"
	"github.com/skypanel/paas/store/key"
)

// The throwaway loop: it owns every label under labelPrefix and keeps
// exactly one of them, labelKey, at the value the test asks for. It also
// owns the condition type conditionLabelled.
const (
	labellerName      = "labeller"
	labelPrefix       = "test.owned."
	labelKey          = labelPrefix + "value"
	labellerChannel   = "paas_test_labels"
	conditionLabelled = "Labelled"
)

type labeller struct {
	shared controllers.Shared
	want   atomic.Value // string: the label value to keep
	writes atomic.Int64
}

func (l *labeller) Reconcile(ctx context.Context, k key.Key) (runtime.Result, error) {
	id, err := k.UUID()
	if err != nil {
		return runtime.Result{}, nil
	}
	want, _ := l.want.Load().(string)
	if want == "" {
		return runtime.Result{}, nil
	}
	svc, err := l.shared.Writer.Update(ctx, labellerName, id, func(live swarm.Service) (*servicewrite.Change, error) {
		if live.Spec.Labels[labelKey] == want && len(ownedLabels(live.Spec.Labels)) == 1 {
			return nil, nil
		}
		// Only labels under labelPrefix count: Merge takes nothing else.
		spec := live.Spec
		spec.Labels = map[string]string{labelKey: want}
		return &servicewrite.Change{Spec: spec, Type: servicewrite.Normal, Reason: "Labelled", Message: "label " + want}, nil
	})
	if err != nil || svc == nil {
		return runtime.Result{}, err
	}
	l.writes.Add(1)
	c := servicespec.Condition{Type: conditionLabelled, Status: servicespec.StatusTrue, Reason: "LabelSet", Message: "label " + svc.Spec.Labels[labelKey]}
	return runtime.Result{}, status.SetConditions(ctx, l.shared.Store, id, []servicespec.Condition{c}, time.Now())
}

func ownedLabels(labels map[string]string) []string {
	var out []string
	for k := range labels {
		if strings.HasPrefix(k, labelPrefix) {
			out = append(out, k)
		}
	}
	return out
}

// TestThirdLoopSharesTheServiceWithAppAndScale registers a throwaway loop
// owning one label prefix and, 50 times, changes at once what each of the
// three loops owns on one service: the replica count (scale loop), the
// throwaway label (third loop), an unowned label added by hand and, every
// tenth round, the env (app loop). Every loop's fields must converge on the
// last value asked for, none may undo another's, and both loops' conditions
// must survive their concurrent writes.
func TestThirdLoopSharesTheServiceWithAppAndScale(t *testing.T) {
	t.Parallel()
	l := &labeller{}
	e := setup(t, func(m *controllers.Manager) {
		m.Register(controllers.Loop{
			Name: labellerName, Kind: key.KindApp,
			Owns: servicespec.Fields{LabelPrefixes: []string{labelPrefix}},
			Wakes: controllers.Wakes{
				Notify:       []controllers.Notify{{Channel: labellerChannel, Prefix: "app/"}},
				DockerEvents: []events.Type{controllers.ServiceEvents},
			},
			New: func(s controllers.Shared) runtime.Reconciler { l.shared = s; return l },
		})
	})
	a := e.createApp("shared", "paas-testapp:v1", 1, map[string]string{"ROUND": "0"})
	e.waitReady(a.ID, 90*time.Second)

	wake := func() {
		if _, err := e.store.Pool.Exec(e.ctx, "SELECT pg_notify($1, $2)", labellerChannel, key.App(a.ID).String()); err != nil {
			t.Error(err)
		}
	}
	l.want.Store("v0")
	wake()
	swarmtest.Eventually(t, 30*time.Second, "third loop labelled the service", func() bool {
		svc, ok := e.service(a.ID)
		return ok && svc.Spec.Labels[labelKey] == "v0"
	})

	const rounds = 50
	for i := 1; i <= rounds; i++ {
		var wg sync.WaitGroup
		wg.Go(func() { // scale loop: 1 or 2 replicas
			if _, err := e.store.Pool.Exec(e.ctx, "UPDATE paas_apps SET replicas = $2 WHERE id = $1", a.ID, 1+i%2); err != nil {
				t.Error(err)
			}
		})
		wg.Go(func() { // third loop: a new value
			l.want.Store(fmt.Sprintf("v%d", i))
			wake()
		})
		wg.Go(func() { // app loop: a hand-added label it must remove; the third loop's label tampered with
			handEdit(e, a.ID, func(labels map[string]string) {
				labels[fmt.Sprintf("junk.%d", i)] = "x"
				if i%7 == 0 {
					labels[labelKey] = "tampered"
					labels[labelPrefix+"junk"] = "x"
				}
			})
		})
		if i%10 == 0 { // app loop: a new release
			wg.Go(func() { e.setEnv(a.ID, "ROUND", fmt.Sprint(i)) })
		}
		wg.Wait()
	}

	wantReplicas := uint64(1 + rounds%2)
	final := fmt.Sprintf("v%d", rounds)
	var last swarm.Service
	swarmtest.Eventually(t, 180*time.Second, "every loop's fields converged", func() bool {
		svc, ok := e.service(a.ID)
		if !ok {
			return false
		}
		last = svc
		cs := svc.Spec.TaskTemplate.ContainerSpec
		return *svc.Spec.Mode.Replicated.Replicas == wantReplicas && svc.ServiceStatus.RunningTasks == wantReplicas &&
			svc.Spec.Labels[labelKey] == final && len(ownedLabels(svc.Spec.Labels)) == 1 &&
			!hasJunk(svc.Spec.Labels) && hasEnvValue(cs.Env, "ROUND", fmt.Sprint(rounds/10*10))
	})
	if last.Spec.Labels[servicespec.LabelAppID] != a.ID.String() || last.Spec.Labels[servicespec.LabelInstance] != e.instance {
		t.Fatalf("paas labels lost: %v", last.Spec.Labels)
	}
	got := e.waitReady(a.ID, 60*time.Second)
	if d, _ := e.store.GetLatestDeployment(e.ctx, a.ID); d.Version < 2 {
		t.Errorf("latest release %d: the env changes cut no release", d.Version)
	}
	// Both loops' conditions survived each other's writes.
	swarmtest.Eventually(t, 30*time.Second, "labeller's condition shows the final label", func() bool {
		got = e.app(a.ID)
		return e.condition(got, conditionLabelled).Message == "label "+final
	})
	for _, typ := range []string{"Ready", "Progressing", "Degraded", "Suspended", conditionLabelled} {
		if e.condition(got, typ).Type == "" {
			t.Errorf("condition %s lost: %s", typ, got.Conditions)
		}
	}
	if got.Phase != "Running" {
		t.Errorf("phase %s, want Running", got.Phase)
	}
	if !hasReason(e.events(a.ID), "DriftReverted") {
		t.Error("no DriftReverted event for the hand-added labels")
	}
	t.Logf("third loop wrote %d times", l.writes.Load())
}

// handEdit changes a service's labels as `docker service update
// --label-add` would, retrying when a loop wrote in between.
func handEdit(e *env, app uuid.UUID, edit func(labels map[string]string)) {
	for attempt := 0; attempt < 20; attempt++ {
		svc, ok := e.service(app)
		if !ok {
			e.t.Error("service gone")
			return
		}
		spec := svc.Spec
		if spec.Labels == nil {
			spec.Labels = map[string]string{}
		}
		edit(spec.Labels)
		_, err := e.docker.ServiceUpdate(e.ctx, svc.ID, svc.Version, spec, types.ServiceUpdateOptions{})
		if err == nil {
			return
		}
		if !strings.Contains(err.Error(), "out of sequence") {
			e.t.Error(fmt.Errorf("hand edit: %w", err))
			return
		}
	}
	e.t.Error(errors.New("hand edit: service kept changing"))
}

func hasJunk(labels map[string]string) bool {
	for k := range labels {
		if strings.HasPrefix(k, "junk.") {
			return true
		}
	}
	return false
}

func hasEnvValue(env []string, k, v string) bool {
	for _, kv := range env {
		if kv == k+"="+v {
			return true
		}
	}
	return false
}

// conditioner is a throwaway loop that owns one condition type and writes
// it, with its count of writes, every time it is woken.
type conditioner struct {
	shared controllers.Shared
	typ    string
	writes atomic.Int64
}

func (c *conditioner) Reconcile(ctx context.Context, k key.Key) (runtime.Result, error) {
	id, err := k.UUID()
	if err != nil {
		return runtime.Result{}, nil
	}
	n := c.writes.Load() + 1
	cond := servicespec.Condition{Type: c.typ, Status: servicespec.StatusTrue, Reason: "Written", Message: fmt.Sprintf("write %d", n)}
	if err := status.SetConditions(ctx, c.shared.Store, id, []servicespec.Condition{cond}, time.Now()); err != nil {
		return runtime.Result{}, err
	}
	c.writes.Store(n)
	return runtime.Result{}, nil
}

// TestTwoLoopsWritingConditionsKeepBoth registers two loops that each own
// a condition type and wakes both 100 times at once, beside the app loop
// writing its own conditions of a running app: no write may lose another.
func TestTwoLoopsWritingConditionsKeepBoth(t *testing.T) {
	t.Parallel()
	left, right := &conditioner{typ: "Left"}, &conditioner{typ: "Right"}
	const channel = "paas_test_conditions"
	register := func(name string, c *conditioner) controllers.Loop {
		return controllers.Loop{
			Name: name, Kind: key.KindApp, Workers: 1,
			Wakes: controllers.Wakes{Notify: []controllers.Notify{{Channel: channel, Prefix: "app/"}}},
			New:   func(s controllers.Shared) runtime.Reconciler { c.shared = s; return c },
		}
	}
	e := setup(t, func(m *controllers.Manager) { m.Register(register("left", left), register("right", right)) })
	a := e.createApp("conds", "paas-testapp:v1", 1, nil)
	e.waitReady(a.ID, 90*time.Second)

	const writes = 100
	for i := 1; i <= writes; i++ {
		if _, err := e.store.Pool.Exec(e.ctx, "SELECT pg_notify($1, $2)", channel, key.App(a.ID).String()); err != nil {
			t.Fatal(err)
		}
		if i%10 == 0 { // and the app loop writes too: its replicas change
			if _, err := e.store.Pool.Exec(e.ctx, "UPDATE paas_apps SET replicas = $2 WHERE id = $1", a.ID, 1+(i/10)%2); err != nil {
				t.Fatal(err)
			}
		}
		// Wait for both writes, so the queue cannot fold two wakes into one.
		swarmtest.Eventually(t, 10*time.Second, fmt.Sprintf("write %d of both loops", i), func() bool {
			return left.writes.Load() >= int64(i) && right.writes.Load() >= int64(i)
		})
	}
	got := e.waitReady(a.ID, 60*time.Second)
	for _, c := range []*conditioner{left, right} {
		if m := e.condition(got, c.typ).Message; m != fmt.Sprintf("write %d", writes) {
			t.Errorf("condition %s = %q, want its last write (write %d): %s", c.typ, m, writes, got.Conditions)
		}
	}
	for _, typ := range []string{"Ready", "Progressing", "Degraded", "Suspended"} {
		if e.condition(got, typ).Type == "" {
			t.Errorf("the app loop's or scale loop's condition %s was lost: %s", typ, got.Conditions)
		}
	}
}
