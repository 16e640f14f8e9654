// Package swarmtest connects integration tests to the real Docker Swarm and
// removes what each test created.
package swarmtest

import (
	"context"
	"net"
	"testing"
	"time"

	swarmtypes "github.com/docker/docker/api/types"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/swarm"
	"github.com/docker/docker/client"

	paasswarm "github.com/skypanel/paas/controllers/swarm"
)

// Client returns a Docker client for a Swarm-mode engine, failing the test
// (never skipping it) when none answers.
func Client(t testing.TB) *client.Client {
	t.Helper()
	c, err := paasswarm.NewClient()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	info, err := c.Info(ctx)
	if err != nil {
		t.Fatalf("docker engine unreachable (run `make test`, which starts it via hack/docker-up.sh): %v", err)
	}
	if info.Swarm.LocalNodeState != swarm.LocalNodeStateActive {
		t.Fatalf("swarm is %q: run hack/docker-up.sh", info.Swarm.LocalNodeState)
	}
	return c
}

// CleanupInstance removes, when the test ends, every service labelled with
// instanceID, so a failed test leaves nothing running.
func CleanupInstance(t testing.TB, c *client.Client, instanceID string) {
	t.Helper()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		svcs, err := c.ServiceList(ctx, swarmListOptions(instanceID))
		if err != nil {
			t.Logf("cleanup: list services of %s: %v", instanceID, err)
			return
		}
		for _, s := range svcs {
			if err := c.ServiceRemove(ctx, s.ID); err != nil {
				t.Logf("cleanup: remove service %s: %v", s.Spec.Name, err)
			}
		}
		// Organization networks go once the removed services' tasks have
		// let go of them.
		for {
			nets, err := c.NetworkList(ctx, network.ListOptions{Filters: filters.NewArgs(filters.Arg("label", paasswarm.LabelInstance+"="+instanceID))})
			if err != nil || len(nets) == 0 {
				return
			}
			for _, n := range nets {
				_ = c.NetworkRemove(ctx, n.ID)
			}
			select {
			case <-ctx.Done():
				t.Logf("cleanup: %d networks of %s still in use", len(nets), instanceID)
				return
			case <-time.After(200 * time.Millisecond):
			}
		}
	})
}

// FreePort returns a TCP port nothing listens on right now.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Eventually polls cond every interval until it returns true or timeout
// passes, then fails the test with msg.
func Eventually(t testing.TB, timeout time.Duration, msg string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s: %s", timeout, msg)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func swarmListOptions(instanceID string) swarmtypes.ServiceListOptions {
	return swarmtypes.ServiceListOptions{Filters: paasswarm.InstanceFilter(instanceID)}
}
