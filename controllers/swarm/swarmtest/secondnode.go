package swarmtest

import (
	"crypto/rand"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// SecondNode is a second Swarm node on this machine (hack/second-node.sh):
// a dockerd in a network namespace of its own, joined as a worker, drained
// and labelled paas.test.node=<Name>.
type SecondNode struct {
	// Name names the namespace, the node's hostname and its directories.
	Name string
	// ID is the node's Swarm id.
	ID string
	// Socket is the node's own Docker socket.
	Socket string
}

// script is hack/second-node.sh, found from this file's place in the repository.
func script(t testing.TB) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("cannot locate the repository")
	}
	return filepath.Join(filepath.Dir(file), "..", "..", "..", "hack", "second-node.sh")
}

func run(t testing.TB, env []string, args ...string) string {
	t.Helper()
	cmd := exec.Command("bash", append([]string{script(t)}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("second-node.sh %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return strings.TrimSpace(string(out))
}

// StartSecondNode brings a second node up with labels (besides
// paas.test.node) and images loaded from the host engine, and removes its
// daemon, namespace, data and Swarm node when the test ends, failed or not.
func StartSecondNode(t testing.TB, labels map[string]string, images ...string) *SecondNode {
	t.Helper()
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name := "pn"
	for _, c := range b {
		name += string(rune('a' + int(c)%26))
	}
	index := 1 + int(b[0])%254
	var ls []string
	for k, v := range labels {
		ls = append(ls, k+"="+v)
	}
	n := &SecondNode{Name: name, Socket: "/run/paas-sn/" + name + "/docker.sock"}
	t.Cleanup(func() { n.down(t) })
	args := append([]string{"up", name, fmt.Sprint(index)}, images...)
	n.ID = run(t, []string{"SECOND_NODE_LABELS=" + strings.Join(ls, " ")}, args...)
	return n
}

// Stop stops the node's dockerd: the node goes down.
func (n *SecondNode) Stop(t testing.TB) { t.Helper(); run(t, nil, "stop", n.Name) }

// Start starts the node's dockerd again: the node rejoins.
func (n *SecondNode) Start(t testing.TB) { t.Helper(); run(t, nil, "start", n.Name) }

func (n *SecondNode) down(t testing.TB) {
	cmd := exec.Command("bash", script(t), "down", n.Name)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("second-node.sh down %s: %v\n%s", n.Name, err, out)
	}
}
