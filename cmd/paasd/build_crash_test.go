package main

import (
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/skypanel/paas/controllers/swarm/swarmtest"
	"github.com/skypanel/paas/store"
	"github.com/skypanel/paas/store/spec"
)

// TestKill9DuringBuildRetriesOnce: paasd is killed with SIGKILL while a
// build runs (its RUN step is held open by the test); after a restart the
// build's lease runs out, the new leader builds it again, and exactly one
// release results. Nothing is left 'building'.
func TestKill9DuringBuildRetriesOnce(t *testing.T) {
	t.Parallel()
	c := newCluster(t, "")
	c.extraEnv = append(c.extraEnv, "PAAS_BUILD_LEASE=2s")
	reg := swarmtest.StartRegistry(t)
	if err := c.store.PutSetting(c.ctx, store.PutSettingParams{Key: "registry_url", Value: &reg}); err != nil {
		t.Fatal(err)
	}
	// A gate on the engine's bridge: the first request (attempt 1's RUN
	// step) is held until the test lets go; later ones pass at once.
	l, err := net.Listen("tcp", "172.17.0.1:0")
	if err != nil {
		t.Fatalf("listen on the docker0 bridge: %v", err)
	}
	arrived := make(chan struct{})
	var once sync.Once
	var mu sync.Mutex
	first := true
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		hold := first
		first = false
		mu.Unlock()
		if hold {
			once.Do(func() { close(arrived) })
			<-r.Context().Done() // the step's client gives up (or dies with its build)
			return
		}
		fmt.Fprintln(w, "ok")
	})}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })

	repo := swarmtest.NewGitRepo(t)
	sha := repo.Commit("gated", map[string]string{"Dockerfile": fmt.Sprintf(
		"FROM paas-testapp:v1\nRUN [\"/testapp\", \"-healthcheck\", \"http://%s/gate\"]\nENV MARKER=built\n", l.Addr())})
	a := c.createApp("crashbuild", "paas-testapp:v1", 1)
	allow := "true" // the test's repository is a file:// URL
	if err := c.store.PutSetting(c.ctx, store.PutSettingParams{Key: spec.SettingAllowFileGitURLs, Value: &allow}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.store.UpsertAppSource(c.ctx, store.UpsertAppSourceParams{AppID: a.ID, GitUrl: repo.URL(), GitRef: "master",
		Dockerfile: "Dockerfile", Builder: "dockerfile"}); err != nil {
		t.Fatal(err)
	}
	p := c.start("paasd-1")
	swarmtest.Eventually(t, 90*time.Second, "v1 converged", func() bool { return c.converged(a.ID, 1, 1) })
	if _, err := c.store.QueueBuild(c.ctx, a.ID, "master", "api"); err != nil {
		t.Fatal(err)
	}
	select {
	case <-arrived:
	case <-time.After(2 * time.Minute):
		t.Fatal("the build's RUN step never reached the gate")
	}
	p.kill(syscall.SIGKILL)
	c.start("paasd-2")

	var b store.PaasBuild
	swarmtest.Eventually(t, 3*time.Minute, "build finished after restart", func() bool {
		b, err = c.store.GetBuildByNumber(c.ctx, store.GetBuildByNumberParams{AppID: a.ID, Number: 1})
		return err == nil && b.Status != "queued" && b.Status != "building"
	})
	if b.Status != "succeeded" || b.Attempts != 2 || b.CommitSha == nil || *b.CommitSha != sha || !strings.Contains(b.Log, "runner lost: build requeued") {
		t.Fatalf("build = %s, %d attempts, sha %v: %s\n%s", b.Status, b.Attempts, b.CommitSha, b.Message, b.Log)
	}
	swarmtest.Eventually(t, 2*time.Minute, "built release converged", func() bool { return c.converged(a.ID, 1, 2) })
	if vs := c.versions(a.ID); fmt.Sprint(vs) != "[2 1]" {
		t.Fatalf("release versions %v, want [2 1]: one release for the build", vs)
	}
	d, err := c.store.GetLatestDeployment(c.ctx, a.ID)
	if err != nil || d.Generation != *b.Generation || !strings.HasSuffix(d.ImageResolved, *b.ImageDigest) {
		t.Fatalf("release 2 = %+v (%v), want the build's digest %s", d, err, *b.ImageDigest)
	}
	var stuck int
	if err := c.store.Pool.QueryRow(c.ctx, `SELECT count(*) FROM paas_builds WHERE status IN ('queued', 'building')`).Scan(&stuck); err != nil || stuck != 0 {
		t.Fatalf("%d builds stuck (%v)", stuck, err)
	}
}
