package controllers

import (
	"strings"
	"testing"

	"github.com/docker/docker/api/types/events"

	"github.com/skypanel/paas/controllers/runtime"
	"github.com/skypanel/paas/controllers/servicespec"
	"github.com/skypanel/paas/store/key"
)

func nop(Shared) runtime.Reconciler {
	return runtime.ReconcilerFunc(nil)
}

func TestRouterDeliversOnlyWhatALoopDeclared(t *testing.T) {
	t.Parallel()
	loop := func(name string, kind key.Kind, w Wakes) routed {
		return routed{loop: Loop{Name: name, Kind: kind, Wakes: w}, controller: &runtime.Controller{Name: "router-test-" + name}}
	}
	appNotify := []Notify{{Channel: "paas_desired", Prefix: "app/"}}
	rt := &router{loops: []routed{
		loop("app", key.KindApp, Wakes{Notify: appNotify, DockerEvents: []events.Type{ServiceEvents}}),
		loop("scale", key.KindApp, Wakes{Notify: appNotify}),
		loop("node", key.KindNode, Wakes{DockerEvents: []events.Type{NodeEvents}}),
		loop("other-channel", key.KindApp, Wakes{Notify: []Notify{{Channel: "elsewhere"}}}),
	}}
	depth := func() map[string]int {
		out := map[string]int{}
		for _, l := range rt.loops {
			out[l.loop.Name] = l.controller.Len()
		}
		return out
	}

	if _, n, err := rt.notified("paas_desired", "app/6f1c9a9e-5f7e-4a51-9f55-0d4f6ad1b0a1"); err != nil || n != 2 {
		t.Fatalf("app notification reached %d loops (%v), want app and scale", n, err)
	}
	if _, n, err := rt.notified("paas_desired", "node/abc"); err != nil || n != 0 {
		t.Fatalf("node key on paas_desired reached %d loops (%v): no loop of kind node listens there", n, err)
	}
	if _, _, err := rt.notified("paas_desired", "app/../../etc"); err == nil {
		t.Fatal("malformed payload accepted")
	}
	if n := rt.event(NodeEvents, key.New(key.KindNode, "abc")); n != 1 {
		t.Fatalf("node event reached %d loops, want the node loop", n)
	}
	if n := rt.event(NodeEvents, key.New(key.KindApp, "6f1c9a9e-5f7e-4a51-9f55-0d4f6ad1b0a1")); n != 0 {
		t.Fatalf("node event with an app key reached %d loops", n)
	}
	want := map[string]int{"app": 1, "scale": 1, "node": 1, "other-channel": 0}
	for name, n := range depth() {
		if n != want[name] {
			t.Errorf("loop %s has %d keys queued, want %d", name, n, want[name])
		}
	}
	if ch := rt.channels(); len(ch) != 2 {
		t.Errorf("channels = %v, want paas_desired and elsewhere once each", ch)
	}
	if ts := rt.eventTypes(); len(ts) != 2 {
		t.Errorf("event types = %v, want service and node", ts)
	}
}

func TestCheckLoopsRefusesBadRegistrations(t *testing.T) {
	t.Parallel()
	app := Loop{Name: "app", Kind: key.KindApp, Owns: servicespec.Fields{Rest: true}, New: nop}
	for _, tc := range []struct {
		name  string
		loops []Loop
		want  string
	}{
		{"valid", []Loop{app, {Name: "scale", Kind: key.KindApp, Owns: servicespec.Fields{Replicas: true}, New: nop}}, ""},
		{"duplicate name", []Loop{app, app}, "registered twice"},
		{"bad kind", []Loop{app, {Name: "x", Kind: "Bad Kind", New: nop}}, "not a key kind"},
		{"no constructor", []Loop{app, {Name: "x", Kind: "x"}}, "New is required"},
		{"bad cron", []Loop{app, {Name: "x", Kind: "x", New: nop, Wakes: Wakes{Cron: []Cron{{Schedule: "every now and then", Key: key.New("x", "1")}}}}}, "cron schedule"},
		{"cron key of another kind", []Loop{app, {Name: "x", Kind: "x", New: nop, Wakes: Wakes{Cron: []Cron{{Schedule: "@hourly", Key: key.New("y", "1")}}}}}, "not of kind x"},
		{"unknown event type", []Loop{app, {Name: "x", Kind: "x", New: nop, Wakes: Wakes{DockerEvents: []events.Type{"plugin"}}}}, "Docker event type"},
		{"overlapping fields", []Loop{app, {Name: "x", Kind: "x", New: nop, Owns: servicespec.Fields{Rest: true}}}, "the rest is claimed"},
	} {
		_, err := checkLoops(tc.loops)
		if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%s: checkLoops error = %v, want %q", tc.name, err, tc.want)
		}
	}
}
