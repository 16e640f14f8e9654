package main

import (
	"context"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/skypanel/paas/controllers/swarm/swarmtest"
	"github.com/skypanel/paas/store"
)

// privatePostgres starts a PostgreSQL of the test's own (so restarting it
// disturbs no other test) with hack/postgres-up.sh, migrates it, and
// returns its URL, a function running pg_ctl on it and one starting it again.
func privatePostgres(t *testing.T) (url string, pgctl func(args ...string), start func()) {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	datadir := filepath.Join(dir, "pg")
	port := swarmtest.FreePort(t)
	if os.Geteuid() == 0 {
		// The server runs as paas-pg, which must reach the data folder
		// through t.TempDir's private parent.
		_ = os.Chmod(dir, 0o755)
		_ = os.Chmod(filepath.Dir(dir), 0o755)
	}
	start = func() {
		t.Helper()
		up := exec.Command("bash", filepath.Join(root, "hack/postgres-up.sh"))
		up.Env = append(os.Environ(), "DATABASE_URL=", "PAAS_PG_DATA="+datadir, "PAAS_PG_PORT="+strconv.Itoa(port))
		var stderr strings.Builder
		up.Stderr = &stderr
		out, err := up.Output()
		if err != nil {
			out = append(out, stderr.String()...)
			t.Fatalf("start private postgres: %v\n%s", err, out)
		}
		url = strings.TrimSpace(string(out))
	}
	start()
	pgctl = func(args ...string) {
		t.Helper()
		bin, err := exec.LookPath("pg_ctl")
		if err != nil {
			matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/pg_ctl")
			if len(matches) == 0 {
				t.Fatal("pg_ctl not found")
			}
			bin = matches[0]
		}
		argv := append([]string{bin, "-D", datadir, "-w", "-t", "60"}, args...)
		if u, _ := user.Current(); u != nil && u.Uid == "0" {
			argv = append([]string{"runuser", "-u", "paas-pg", "--"}, argv...)
		}
		if out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("pg_ctl %v: %v\n%s", args, err, out)
		}
	}
	t.Cleanup(func() { pgctl("stop", "-m", "immediate") })
	if _, err := store.Migrate(context.Background(), url); err != nil {
		t.Fatal(err)
	}
	return url, pgctl, start
}

// TestPostgresRestartReconnectsAndConverges restarts the database under a
// running paasd: the listener reconnects, a resync follows, and a drift
// made while the database was down and a spec change made right after it
// came back both converge, with the periodic resync too slow to be the cause.
func TestPostgresRestartReconnectsAndConverges(t *testing.T) {
	t.Parallel()
	url, pgctl, startPG := privatePostgres(t)
	c := newCluster(t, url)
	c.extraEnv = []string{"PAAS_RESYNC_INTERVAL=10m"}
	a := c.createApp("web", "paas-testapp:v1", 1)
	p := c.start("paasd")
	swarmtest.Eventually(t, 90*time.Second, "converged", func() bool { return c.converged(a.ID, 1, 1) })

	c.store.Pool.Reset()
	pgctl("stop", "-m", "fast")
	out, err := exec.Command("docker", "service", "scale", "--detach", a.ServiceName+"=3").CombinedOutput()
	if err != nil {
		t.Fatalf("docker service scale: %v\n%s", err, out)
	}
	swarmtest.Eventually(t, 10*time.Second, "drift landed while the database is down", func() bool {
		svcs := c.services(a.ID)
		return len(svcs) == 1 && *svcs[0].Spec.Mode.Replicated.Replicas == 3
	})
	startPG()
	c.patch(a.ID, func(p *store.UpdateAppSpecParams) { p.Replicas = 2 })

	c.waitConverged(a.ID, 2, 1, 90*time.Second, "converged to 2 replicas after the restart")
	swarmtest.Eventually(t, 10*time.Second, "listener reconnected", func() bool { return p.count(`"message":"listening"`) >= 2 })
}

// TestDisruptiveDockerdRestart restarts the Docker engine under a running
// paasd: the event stream reconnects, a resync follows, and a change made
// while the engine was down converges. It stops the engine every other test
// uses, so hack/test.sh runs it alone, after the rest.
func TestDisruptiveDockerdRestart(t *testing.T) {
	c := newCluster(t, "")
	c.extraEnv = []string{"PAAS_RESYNC_INTERVAL=10m"}
	a := c.createApp("web", "paas-testapp:v1", 1)
	p := c.start("paasd")
	swarmtest.Eventually(t, 90*time.Second, "converged", func() bool { return c.converged(a.ID, 1, 1) })

	out, err := exec.Command("pidof", "dockerd").Output()
	if err != nil {
		t.Fatalf("pidof dockerd: %v (dockerd must run as a plain process, as hack/docker-up.sh starts it)", err)
	}
	pid, _ := strconv.Atoi(strings.Fields(string(out))[0])
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	swarmtest.Eventually(t, 60*time.Second, "dockerd stopped", func() bool { return syscall.Kill(pid, 0) != nil })
	c.patch(a.ID, func(p *store.UpdateAppSpecParams) { p.Replicas = 2 })

	root, _ := filepath.Abs("../..")
	if out, err := exec.Command("bash", filepath.Join(root, "hack/docker-up.sh")).CombinedOutput(); err != nil {
		t.Fatalf("restart dockerd: %v\n%s", err, out)
	}
	swarmtest.Eventually(t, 3*time.Minute, "converged to 2 replicas after the engine restart", func() bool { return c.converged(a.ID, 2, 1) })
	if n := p.count("docker event stream established"); n < 2 {
		t.Fatalf("event stream established %d times, want a reconnect", n)
	}
}
