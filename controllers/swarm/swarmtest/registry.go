package swarmtest

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"
	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// StartRegistry runs Debian's docker-registry (hack/registry-up.sh installs
// it) on a free loopback port and returns host:port.
func StartRegistry(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf("version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: %s\nhttp:\n  addr: %s\n", filepath.Join(dir, "data"), addr)), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("docker-registry", "serve", cfg)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start docker-registry (run hack/registry-up.sh): %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		// The images built for this registry go with it.
		docker := Client(t)
		ctx := context.Background()
		list, err := docker.ImageList(ctx, image.ListOptions{Filters: filters.NewArgs(filters.Arg("reference", addr+"/*/*"))})
		if err != nil {
			return
		}
		for _, img := range list {
			_, _ = docker.ImageRemove(ctx, img.ID, image.RemoveOptions{Force: true, PruneChildren: true})
		}
	})
	Eventually(t, 30*time.Second, "registry answers", func() bool {
		resp, err := http.Get("http://" + addr + "/v2/")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	return addr
}

// GitRepo is a repository made by the test, cloned over file://.
type GitRepo struct {
	t    testing.TB
	dir  string
	repo *git.Repository
}

// NewGitRepo makes an empty repository in a temporary directory.
func NewGitRepo(t testing.TB) *GitRepo {
	t.Helper()
	dir := t.TempDir()
	r, err := git.PlainInit(dir, false)
	if err != nil {
		t.Fatal(err)
	}
	return &GitRepo{t: t, dir: dir, repo: r}
}

// URL is the file:// URL of the repository.
func (g *GitRepo) URL() string { return "file://" + g.dir }

// Commit writes files on the current branch (master) and returns the sha.
func (g *GitRepo) Commit(msg string, files map[string]string) string {
	g.t.Helper()
	wt, err := g.repo.Worktree()
	if err != nil {
		g.t.Fatal(err)
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(g.dir, name), []byte(body), 0o644); err != nil {
			g.t.Fatal(err)
		}
		if _, err := wt.Add(name); err != nil {
			g.t.Fatal(err)
		}
	}
	h, err := wt.Commit(msg, &git.CommitOptions{Author: &object.Signature{Name: "t", Email: "t@example.com", When: time.Now()}})
	if err != nil {
		g.t.Fatal(err)
	}
	return h.String()
}

// LocalTags lists the engine's image tags that start with prefix, sorted.
func LocalTags(t testing.TB, docker *client.Client, prefix string) []string {
	t.Helper()
	list, err := docker.ImageList(context.Background(), image.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, im := range list {
		for _, tag := range im.RepoTags {
			if strings.HasPrefix(tag, prefix) {
				out = append(out, tag)
			}
		}
	}
	slices.Sort(out)
	return out
}

// RemoveService removes a service and waits for its containers to go, so
// a registry's cleanup can remove the image they ran.
func RemoveService(t testing.TB, docker *client.Client, id string) {
	t.Helper()
	ctx := context.Background()
	_ = docker.ServiceRemove(ctx, id)
	Eventually(t, 30*time.Second, "service containers gone", func() bool {
		cs, err := docker.ContainerList(ctx, container.ListOptions{All: true,
			Filters: filters.NewArgs(filters.Arg("label", "com.docker.swarm.service.id="+id))})
		return err == nil && len(cs) == 0
	})
}
