package build

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/swarm"
	"github.com/docker/docker/client"

	"github.com/skypanel/paas/controllers/swarm/swarmtest"
	"github.com/skypanel/paas/store"
	"github.com/skypanel/paas/store/storetest"
)

// buildImage builds a labelled image on paas-testapp:v1 with the classic
// builder, as the runner does, tagged tag; it returns the image id.
func buildImage(t *testing.T, docker *client.Client, tag, commit string) string {
	t.Helper()
	ctx := context.Background()
	tarball, err := tarContext(t.TempDir(), ".paas.Dockerfile", fmt.Sprintf("FROM paas-testapp:v1\nLABEL %s=%s\n", labelCommit, commit), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	defer tarball.Close()
	resp, err := docker.ImageBuild(ctx, tarball, types.ImageBuildOptions{Tags: []string{tag}, Dockerfile: ".paas.Dockerfile",
		Remove: true, ForceRemove: true, Version: types.BuilderV1})
	if err != nil {
		t.Fatal(err)
	}
	out, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if strings.Contains(string(out), `"error"`) {
		t.Fatalf("build %s: %s", tag, out)
	}
	ins, err := docker.ImageInspect(ctx, tag)
	if err != nil {
		t.Fatalf("build %s: %v\n%s", tag, err, out)
	}
	return ins.ID
}

// TestPrunerOnEngine: on the real engine, the sweep removes exactly the
// build images older than the TTL and then the oldest until the cache is
// under its size bound, keeps the image a Swarm service runs (by the
// digest it was pushed with) even though it is the oldest and expired, and
// leaves images it does not manage alone; ClearApp then removes the rest
// of one app's images but the one in use, and not another app's.
func TestPrunerOnEngine(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	docker := swarmtest.Client(t)
	reg := swarmtest.StartRegistry(t) // its cleanup removes every image tagged under it
	s := storetest.New(t)
	org, err := s.CreateOrganization(ctx, store.CreateOrganizationParams{Name: "Acme", Slug: "acme"})
	if err != nil {
		t.Fatal(err)
	}
	plan, err := s.GetPlanByName(ctx, "hobby")
	if err != nil {
		t.Fatal(err)
	}
	x, err := s.CreateApp(ctx, store.CreateAppParams{OrganizationID: org.ID, Name: "x", ServiceName: "acme-x-" + storetest.InstanceID(t),
		Image: "paas-testapp:v1", Replicas: 1, Port: 8080, Command: []string{}, PlanID: plan.ID})
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]string{SettingCacheTTLHours: "1", SettingCacheMaxSizeMB: "15"} {
		if err := s.PutSetting(ctx, store.PutSettingParams{Key: k, Value: &v}); err != nil {
			t.Fatal(err)
		}
	}

	repo, other := reg+"/acme/x", reg+"/acme/other"
	// Labels unique to the test: the classic builder's cache would
	// otherwise hand back an image another test tagged too.
	uniq := storetest.InstanceID(t)
	// Oldest first, a second apart (the engine keeps creation times in seconds).
	order := []string{other + ":b1", repo + ":b1", repo + ":b2", repo + ":b3", repo + ":b4"}
	for i, tag := range order {
		if i > 0 {
			time.Sleep(1100 * time.Millisecond)
		}
		buildImage(t, docker, tag, fmt.Sprintf("%s-%d", uniq, i))
	}
	// A tag under the registry the runner never makes (not b<N>) is not the pruner's.
	if err := docker.ImageTag(ctx, repo+":b1", repo+":latest"); err != nil {
		t.Fatal(err)
	}
	// b1 is pushed and runs as a Swarm service by digest, as a deployed build does.
	push, err := docker.ImagePush(ctx, repo+":b1", image.PushOptions{RegistryAuth: "e30="})
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, push)
	push.Close()
	b1, err := docker.ImageInspect(ctx, repo+":b1")
	if err != nil || len(b1.RepoDigests) == 0 {
		t.Fatalf("b1 was not pushed: %v %v", b1.RepoDigests, err)
	}
	svc, err := docker.ServiceCreate(ctx, swarm.ServiceSpec{
		Annotations:  swarm.Annotations{Name: "cache-" + storetest.InstanceID(t)},
		TaskTemplate: swarm.TaskSpec{ContainerSpec: &swarm.ContainerSpec{Image: b1.RepoDigests[0]}},
	}, swarm.ServiceCreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { swarmtest.RemoveService(t, docker, svc.ID) })

	b2, err := docker.ImageInspect(ctx, repo+":b2")
	if err != nil {
		t.Fatal(err)
	}
	created, err := time.Parse(time.RFC3339Nano, b2.Created)
	if err != nil {
		t.Fatal(err)
	}
	// The clock stands just past b2's TTL: other:b1, x:b1 and x:b2 are expired.
	p := &Pruner{Store: s, Docker: docker, Registry: reg, Now: func() time.Time { return created.Add(time.Hour + 500*time.Millisecond) }}
	rep, err := p.Sweep(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range rep.Removed {
		got = append(got, fmt.Sprintf("%s:%s", strings.Join(r.Image.Tags, ","), r.Reason))
	}
	want := []string{other + ":b1:expired", repo + ":b2:expired", repo + ":b3:over_size"}
	if !slices.Equal(got, want) {
		t.Fatalf("sweep removed %v, want %v (problems %v)", got, want, rep.Problems)
	}
	if len(rep.Problems) != 0 {
		t.Fatalf("sweep problems: %v", rep.Problems)
	}
	if !slices.Equal(rep.KeptInUse, []string{repo + ":b1"}) {
		t.Fatalf("kept in use %v, want x:b1", rep.KeptInUse)
	}
	if rep.Bytes < 3*5<<20 {
		t.Fatalf("sweep reports %d bytes freed for three images of over 5 MiB", rep.Bytes)
	}
	if tags := swarmtest.LocalTags(t, docker, reg+"/"); !slices.Equal(tags, []string{repo + ":b1", repo + ":b4", repo + ":latest"}) {
		t.Fatalf("left on the engine: %v", tags)
	}

	// A second sweep at the same time finds nothing more to do.
	if rep, err := p.Sweep(ctx); err != nil || len(rep.Removed) != 0 {
		t.Fatalf("second sweep: %+v %v", rep.Removed, err)
	}

	// ClearApp removes every image of x nothing uses, not another app's.
	buildImage(t, docker, repo+":b5", uniq+"-5")
	buildImage(t, docker, other+":b2", uniq+"-6")
	rep, err = p.ClearApp(ctx, x.ID)
	if err != nil {
		t.Fatal(err)
	}
	got = nil
	for _, r := range rep.Removed {
		got = append(got, fmt.Sprintf("%s:%s", strings.Join(r.Image.Tags, ","), r.Reason))
	}
	if want := []string{repo + ":b4:requested", repo + ":b5:requested"}; !slices.Equal(got, want) || len(rep.Problems) != 0 {
		t.Fatalf("clear removed %v (problems %v), want %v", got, rep.Problems, want)
	}
	if rep.Bytes < 2*5<<20 || !slices.Equal(rep.KeptInUse, []string{repo + ":b1"}) {
		t.Fatalf("clear: %d bytes, kept in use %v", rep.Bytes, rep.KeptInUse)
	}
	if tags := swarmtest.LocalTags(t, docker, reg+"/"); !slices.Equal(tags, []string{other + ":b2", repo + ":b1", repo + ":latest"}) {
		t.Fatalf("left on the engine after clear: %v", tags)
	}
}
