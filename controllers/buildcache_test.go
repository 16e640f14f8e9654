package controllers

import (
	"context"
	"testing"
	"time"

	"github.com/docker/docker/client"

	"github.com/skypanel/paas/controllers/build"
	"github.com/skypanel/paas/store/storetest"
)

// TestBuildCacheLoop: the build cache sweep is a registered loop woken
// every 6 hours by cron (and not at each resync), and an engine that does
// not answer is logged, never a reconcile error to retry.
func TestBuildCacheLoop(t *testing.T) {
	t.Parallel()
	s := storetest.New(t)
	// An engine nobody listens on: every Docker call fails.
	dead, err := client.NewClientWithOpts(client.WithHost("tcp://127.0.0.1:1"), client.WithVersion("1.41"))
	if err != nil {
		t.Fatal(err)
	}
	defer dead.Close()
	m := &Manager{Store: s, Docker: dead, Now: time.Now, Builds: build.Runner{Registry: "127.0.0.1:5999"}}
	loops := m.builtinLoops()
	if _, err := checkLoops(loops); err != nil {
		t.Fatal(err)
	}
	var found *Loop
	for i := range loops {
		if loops[i].Name == "buildcache" {
			found = &loops[i]
		}
	}
	if found == nil {
		t.Fatal("no buildcache loop registered")
	}
	if len(found.Wakes.Cron) != 1 || found.Wakes.Resync != nil {
		t.Fatalf("buildcache wakes: %+v", found.Wakes)
	}
	sched, err := cronParser.Parse(found.Wakes.Cron[0].Schedule)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	if next := sched.Next(t0); next.Sub(t0) != 6*time.Hour {
		t.Fatalf("next sweep %v after the last, want 6h", next.Sub(t0))
	}
	res, err := found.New(Shared{}).Reconcile(context.Background(), found.Wakes.Cron[0].Key)
	if err != nil || res.RequeueAfter != 0 {
		t.Fatalf("a sweep against a dead engine = %+v, %v; want no error", res, err)
	}
}
