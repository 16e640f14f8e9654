package v1_test

import (
	"archive/tar"
	"bytes"
	"context"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/docker/docker/api/types"
	"github.com/docker/docker/api/types/swarm"
	"github.com/docker/docker/client"

	"github.com/skypanel/paas/api/openapi"
	v1 "github.com/skypanel/paas/api/v1"
	"github.com/skypanel/paas/controllers/build"
	"github.com/skypanel/paas/controllers/swarm/swarmtest"
	"github.com/skypanel/paas/store"
	"github.com/skypanel/paas/store/storetest"
)

// buildTagged builds, with the classic builder as the build runner does,
// a labelled image on paas-testapp:v1 tagged tag.
func buildTagged(t *testing.T, docker *client.Client, tag, commit string) {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	df := []byte("FROM paas-testapp:v1\nLABEL paas.build.commit=" + commit + "\n")
	if err := tw.WriteHeader(&tar.Header{Name: "Dockerfile", Mode: 0o644, Size: int64(len(df))}); err != nil {
		t.Fatal(err)
	}
	_, _ = tw.Write(df)
	_ = tw.Close()
	resp, err := docker.ImageBuild(context.Background(), &buf, types.ImageBuildOptions{Tags: []string{tag}, Remove: true, Version: types.BuilderV1})
	if err != nil {
		t.Fatal(err)
	}
	out, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if _, err := docker.ImageInspect(context.Background(), tag); err != nil {
		t.Fatalf("build %s: %v\n%s", tag, err, out)
	}
}

// TestDeleteBuildCache: on real Postgres and the real engine, an owner's
// DELETE …/build-cache removes the app's local build images and answers
// how many and how many bytes; the image a Swarm service runs stays (and
// is said to), another organization's app's images stay; another
// organization's caller gets 404 and removes nothing; a member may clear
// it too.
func TestDeleteBuildCache(t *testing.T) {
	t.Parallel()
	docker := swarmtest.Client(t)
	reg := swarmtest.StartRegistry(t) // its cleanup removes every image tagged under it
	f := setup(t, func(d *v1.Deps) { d.BuildCache = &build.Pruner{Store: d.Store, Docker: docker, Registry: reg} })
	f.createApp(f.alice.token, "web", map[string]any{"image": "nginx"})
	f.createApp(f.bob.token, "bobs", map[string]any{"image": "nginx"})
	web, bobs := reg+"/acme/web", reg+"/globex/bobs"
	// Labels unique to the test: the classic builder's cache would
	// otherwise hand back an image another test tagged too.
	id := storetest.InstanceID(t)
	for i, tag := range []string{web + ":b1", web + ":b2", web + ":b3", bobs + ":b1"} {
		buildTagged(t, docker, tag, id+"-"+strconv.Itoa(i))
	}
	// b1 is what the app's service runs.
	svc, err := docker.ServiceCreate(context.Background(), swarm.ServiceSpec{
		Annotations:  swarm.Annotations{Name: "bc-" + storetest.InstanceID(t)},
		TaskTemplate: swarm.TaskSpec{ContainerSpec: &swarm.ContainerSpec{Image: web + ":b1"}},
	}, swarm.ServiceCreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { swarmtest.RemoveService(t, docker, svc.ID) })

	// Bob cannot reach Alice's app: 404, nothing removed.
	f.do(f.bob.token, "DELETE", "/api/paas/apps/web/build-cache", nil, "X-Paas-Organization", "globex").problem(http.StatusNotFound, "not-found")
	if got := swarmtest.LocalTags(t, docker, reg+"/"); len(got) != 4 {
		t.Fatalf("after bob's request: %v", got)
	}

	var rep openapi.BuildCacheReport
	f.do(f.alice.token, "DELETE", "/api/paas/apps/web/build-cache", nil).want(200).decode(&rep)
	if rep.RemovedImages != 2 || rep.RemovedBytes < 2*5<<20 || len(rep.Problems) != 0 {
		t.Fatalf("answer %+v: want 2 images of over 5 MiB each and no problem", rep)
	}
	var removed []string
	for _, r := range rep.Removed {
		if r.Reason != openapi.BuildCacheRemovalReason(build.ReasonRequested) || r.Bytes <= 0 {
			t.Errorf("removal %+v", r)
		}
		removed = append(removed, r.Tags...)
	}
	slices.Sort(removed) // images built in the same second have no order
	if !slices.Equal(removed, []string{web + ":b2", web + ":b3"}) || !slices.Equal(rep.KeptInUse, []string{web + ":b1"}) {
		t.Fatalf("removed %v, kept in use %v", removed, rep.KeptInUse)
	}
	if got := swarmtest.LocalTags(t, docker, reg+"/"); !slices.Equal(got, []string{web + ":b1", bobs + ":b1"}) {
		t.Fatalf("left on the engine: %v", got)
	}

	// Again, by a member: nothing left to remove but still an answer.
	f.do(f.carol.token, "DELETE", "/api/paas/apps/web/build-cache", nil, "X-Paas-Organization", "acme").want(200).decode(&rep)
	if rep.RemovedImages != 0 || rep.RemovedBytes != 0 || !slices.Equal(rep.KeptInUse, []string{web + ":b1"}) {
		t.Fatalf("second clear: %+v", rep)
	}
}

// TestDeleteBuildCacheEngineDown: a cache problem is answered, not a 500.
func TestDeleteBuildCacheEngineDown(t *testing.T) {
	t.Parallel()
	dead, err := client.NewClientWithOpts(client.WithHost("tcp://127.0.0.1:1"), client.WithVersion("1.41"))
	if err != nil {
		t.Fatal(err)
	}
	defer dead.Close()
	f := setup(t, func(d *v1.Deps) {
		d.BuildCache = &build.Pruner{Store: d.Store, Docker: dead, Registry: "127.0.0.1:5999"}
	})
	f.createApp(f.alice.token, "web", map[string]any{"image": "nginx"})
	var rep openapi.BuildCacheReport
	f.do(f.alice.token, "DELETE", "/api/paas/apps/web/build-cache", nil).want(200).decode(&rep)
	if rep.RemovedImages != 0 || len(rep.Problems) != 1 || !strings.Contains(rep.Problems[0], "list images") {
		t.Fatalf("answer %+v: want nothing removed and the problem said", rep)
	}
}

// TestBuildSettingsValidation: the build settings are checked by the
// settings API (an unknown family of base images is 422), and stored in
// clear even when asked to be sensitive, since the build runner reads them.
func TestBuildSettingsValidation(t *testing.T) {
	t.Parallel()
	f := setup(t)
	before := f.state()
	p := f.do(f.admin.token, "PUT", "/api/admin/paas/settings", map[string]any{"settings": []map[string]any{
		{"key": "buildpack_default_stack", "value": "gentoo"},
		{"key": "buildpack_cache_enabled", "value": "maybe"},
		{"key": "buildpack_cache_ttl_hours", "value": "-1"},
		{"key": "buildpack_cache_max_size_mb", "value": "10GB"},
	}}).problem(422, "validation-failed")
	for _, field := range []string{"settings[0].value", "settings[1].value", "settings[2].value", "settings[3].value"} {
		fieldErr(t, p, field)
	}
	if e := fieldErr(t, p, "settings[0].value"); !strings.Contains(e.Message, "alpine, debian") {
		t.Errorf("the family error does not list the families: %+v", e)
	}
	if f.state() != before {
		t.Fatal("a refused settings write changed state")
	}
	f.do(f.admin.token, "PUT", "/api/admin/paas/settings", map[string]any{"settings": []map[string]any{
		{"key": "buildpack_default_stack", "value": "alpine", "sensitive": true},
		{"key": "buildpack_cache_enabled", "value": "false"},
		{"key": "buildpack_cache_ttl_hours", "value": "0"},
		{"key": "buildpack_cache_max_size_mb", "value": "2048"},
	}}).want(200)
	ctx := context.Background()
	for key, want := range map[string]string{"buildpack_default_stack": "alpine", "buildpack_cache_enabled": "false",
		"buildpack_cache_ttl_hours": "0", "buildpack_cache_max_size_mb": "2048"} {
		st, err := f.s.GetSetting(ctx, key)
		if err != nil || st.Sensitive || st.Value == nil || *st.Value != want {
			t.Errorf("%s stored as %+v (%v), want %q in clear", key, st, err, want)
		}
	}
	if v, err := store.StringSetting(ctx, f.s, build.SettingCacheEnabled); err != nil || build.CacheEnabled(v) {
		t.Error("buildpack_cache_enabled=false reads as enabled")
	}
}
