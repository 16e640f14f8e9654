package main

import (
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/sqlc-dev/pqtype"

	"github.com/skypanel/paas/controllers/swarm/swarmtest"
	"github.com/skypanel/paas/store"
)

// TestKill9DuringRolloutConverges kills paasd with SIGKILL while a slow
// rollout is under way, restarts it, and expects convergence with one
// service and no duplicate release.
func TestKill9DuringRolloutConverges(t *testing.T) {
	t.Parallel()
	c := newCluster(t, "")
	// Slow-starting tasks behind a healthcheck: each waits 3s before it
	// listens, so with start-first, parallelism 1 and a 2s monitor a rollout
	// of two replicas lasts over ten seconds.
	a := c.createApp("web", "paas-testapp:v1", 2)
	c.setEnv(a.ID, "TESTAPP_START_DELAY", "3s")
	c.patch(a.ID, func(p *store.UpdateAppSpecParams) {
		p.HealthCheck = pqtype.NullRawMessage{Valid: true, RawMessage: []byte(
			`{"command":["/testapp","-healthcheck","http://127.0.0.1:8080/health"],"interval_seconds":1,"timeout_seconds":1,"retries":30}`)}
	})
	p := c.start("paasd-1") // after the writes above, so they make one release
	swarmtest.Eventually(t, 90*time.Second, "v1 converged", func() bool { return c.converged(a.ID, 2, 1) })

	c.patch(a.ID, func(p *store.UpdateAppSpecParams) { p.Image = "paas-testapp:v2" })
	swarmtest.Eventually(t, 30*time.Second, "rollout of release 2 under way", func() bool {
		d, err := c.store.GetLatestDeployment(c.ctx, a.ID)
		svcs := c.services(a.ID)
		return err == nil && d.Version == 2 && d.Status == "deploying" && len(svcs) == 1 &&
			svcs[0].Spec.Labels["paas.release"] == "2"
	})
	p.kill(syscall.SIGKILL)

	c.start("paasd-2")
	swarmtest.Eventually(t, 3*time.Minute, "v2 converged after restart", func() bool { return c.converged(a.ID, 2, 2) })
	if svcs := c.services(a.ID); len(svcs) != 1 {
		t.Fatalf("%d services for one app", len(svcs))
	}
	if vs := c.versions(a.ID); fmt.Sprint(vs) != "[2 1]" {
		t.Fatalf("release versions %v, want [2 1]", vs)
	}
}

// TestTwoProcessesOneLeader runs two paasd on one database: exactly one
// reconciles; killing it, the other takes over and converges what changed.
func TestTwoProcessesOneLeader(t *testing.T) {
	t.Parallel()
	c := newCluster(t, "")
	a := c.start("paasd-a")
	b := c.start("paasd-b")
	swarmtest.Eventually(t, 30*time.Second, "one leader", func() bool { return a.isLeader() != b.isLeader() })
	leader, follower := a, b
	if b.isLeader() {
		leader, follower = b, a
	}
	app := c.createApp("web", "paas-testapp:v1", 1)
	swarmtest.Eventually(t, 90*time.Second, "converged under the first leader", func() bool { return c.converged(app.ID, 1, 1) })
	if n := follower.count("leading: reconcilers started"); n != 0 {
		t.Fatalf("follower started reconcilers %d times", n)
	}
	if n := follower.count(`"controller":"app"`); n != 0 {
		t.Fatalf("follower logged %d app reconciles", n)
	}

	leader.kill(syscall.SIGKILL)
	killed := time.Now()
	c.patch(app.ID, func(p *store.UpdateAppSpecParams) { p.Replicas = 2 })
	swarmtest.Eventually(t, 30*time.Second, "follower takes over", follower.isLeader)
	takeover := time.Since(killed)
	swarmtest.Eventually(t, 90*time.Second, "pending change converged by the new leader", func() bool { return c.converged(app.ID, 2, 1) })
	t.Logf("leader takeover after kill -9: %s (leader check 500ms, retry 250ms); converged %s after the kill",
		takeover.Round(time.Millisecond), time.Since(killed).Round(time.Millisecond))
}
