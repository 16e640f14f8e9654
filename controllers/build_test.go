package controllers_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/network"
	"github.com/google/uuid"

	v1 "github.com/skypanel/paas/api/v1"
	"github.com/skypanel/paas/controllers"
	"github.com/skypanel/paas/controllers/app"
	"github.com/skypanel/paas/controllers/build"
	"github.com/skypanel/paas/controllers/servicespec"
	"github.com/skypanel/paas/controllers/swarm/swarmtest"
	"github.com/skypanel/paas/store"
	"github.com/skypanel/paas/store/secret"
	"github.com/skypanel/paas/store/spec"
)

// allowFileGitURLs lets builds clone the test's file:// repositories.
func (e *env) allowFileGitURLs() {
	e.t.Helper()
	allow := "true"
	if err := e.store.PutSetting(e.ctx, store.PutSettingParams{Key: spec.SettingAllowFileGitURLs, Value: &allow}); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) waitBuild(app uuid.UUID, number int32, timeout time.Duration, statuses ...string) store.PaasBuild {
	e.t.Helper()
	var b store.PaasBuild
	swarmtest.Eventually(e.t, timeout, fmt.Sprintf("build %d %v", number, statuses), func() bool {
		var err error
		b, err = e.store.GetBuildByNumber(e.ctx, store.GetBuildByNumberParams{AppID: app, Number: number})
		return err == nil && slices.Contains(statuses, b.Status)
	})
	return b
}

// containerEnv is the env of the app's running task container.
func (e *env) containerEnv(app uuid.UUID) []string {
	e.t.Helper()
	c, err := e.docker.ContainerInspect(e.ctx, e.taskContainer(app))
	if err != nil {
		e.t.Fatal(err)
	}
	return c.Config.Env
}

func (e *env) localImages(ref string) int {
	list, err := e.docker.ImageList(e.ctx, imageListByRef(ref))
	if err != nil {
		e.t.Fatal(err)
	}
	return len(list)
}

// TestBuildFromGitEndToEnd: a git repository made by the test deploys from
// source on real Swarm through a real registry: the sha is recorded, the
// service runs the pushed image by digest, a second commit deploys v2, a
// broken Dockerfile ends build_failed with the builder's error while v2
// keeps serving, a build whose runner died is retried to exactly one
// release, and a cancelled or timed-out build leaves no tagged image and
// nothing stuck in building.
func TestBuildFromGitEndToEnd(t *testing.T) {
	t.Parallel()
	reg := swarmtest.StartRegistry(t)
	e := setup(t, func(m *controllers.Manager) {
		m.Builds = build.Runner{Registry: reg, Poll: 100 * time.Millisecond, Lease: 2 * time.Second, Concurrency: 2}
	})
	e.allowFileGitURLs()
	repo := swarmtest.NewGitRepo(t)
	sha1 := repo.Commit("v1", map[string]string{
		"Dockerfile": "FROM paas-testapp:v1\nENV MARKER=one ECHO_ENV=MARKER\nCOPY hello.txt /hello.txt\n",
		"hello.txt":  "one\n",
	})
	a := e.createApp("src", "paas-testapp:v1", 1, nil)
	const hookSecret = "s3cret-of-the-test"
	sealed, err := e.box.Seal([]byte(hookSecret), secret.WebhookAD(a.ID))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.UpsertAppSource(e.ctx, store.UpsertAppSourceParams{
		AppID: a.ID, GitUrl: repo.URL(), GitRef: "master", Dockerfile: "Dockerfile", Builder: "dockerfile", WebhookSecretEncrypted: sealed}); err != nil {
		t.Fatal(err)
	}
	api := httptest.NewServer(v1.New(v1.Deps{Store: e.store, Box: e.box, JWTSecret: []byte("0123456789abcdef0123456789abcdef")}).Handler())
	t.Cleanup(api.Close)

	// Build 1 is left 'building' by a runner that died (its lease ran out):
	// the leader's runner takes it again and exactly one release results.
	if _, err := e.store.Pool.Exec(e.ctx, `INSERT INTO paas_builds (app_id, number, ref, status, attempts, started_at, lease_until)
		VALUES ($1, 1, 'master', 'building', 1, now() - interval '1 minute', now() - interval '1 second')`, a.ID); err != nil {
		t.Fatal(err)
	}
	b1 := e.waitBuild(a.ID, 1, 120*time.Second, "succeeded", "build_failed")
	if b1.Status != "succeeded" || b1.Attempts != 2 || b1.CommitSha == nil || *b1.CommitSha != sha1 {
		t.Fatalf("build 1 = %s attempts %d sha %v (want %s): %s\n%s", b1.Status, b1.Attempts, b1.CommitSha, sha1, b1.Message, b1.Log)
	}
	if !strings.Contains(b1.Log, "runner lost: build requeued") || !strings.Contains(b1.Log, "--- step 4 of 4\nStep 4/4 :") || b1.Steps != 4 || b1.DurationMs == nil {
		t.Fatalf("build 1 log/progress: steps %d duration %v\n%s", b1.Steps, b1.DurationMs, b1.Log)
	}
	pinned1 := fmt.Sprintf("%s/acme/src@%s", reg, *b1.ImageDigest)
	d1 := e.waitReleaseOf(a.ID, *b1.Generation)
	if d1.ImageResolved != pinned1 {
		t.Fatalf("release image %q, want %q", d1.ImageResolved, pinned1)
	}
	e.waitDeployment(a.ID, d1.Version, "deployed", 90*time.Second)
	if n := e.releasesAt(a.ID, *b1.Generation); n != 1 {
		t.Fatalf("%d releases for the build's generation, want 1", n)
	}
	svc, _ := e.service(a.ID)
	if img := svc.Spec.TaskTemplate.ContainerSpec.Image; img != pinned1 {
		t.Fatalf("service image %q, want the registry digest %q", img, pinned1)
	}
	swarmtest.Eventually(t, 60*time.Second, "the app serves v1's content over HTTP", func() bool {
		return slices.Contains(e.served(a.ID), "one")
	})
	// The image is in the registry, under the digest the service runs.
	req, _ := http.NewRequest(http.MethodHead, fmt.Sprintf("http://%s/v2/acme/src/manifests/%s", reg, *b1.ImageDigest), nil)
	req.Header.Set("Accept", "application/vnd.docker.distribution.manifest.v2+json")
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("registry manifest: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}

	// A second commit deploys version 2.
	sha2 := repo.Commit("v2", map[string]string{
		"Dockerfile": "FROM paas-testapp:v1\nENV MARKER=two ECHO_ENV=MARKER\nCOPY hello.txt /hello.txt\n",
		"hello.txt":  "two\n",
	})
	// ... through the push webhook (signed as GitHub signs it).
	payload := fmt.Sprintf(`{"ref":"refs/heads/master","after":%q}`, sha2)
	mac := hmac.New(sha256.New, []byte(hookSecret))
	mac.Write([]byte(payload))
	req, _ = http.NewRequest(http.MethodPost, api.URL+"/api/paas/hooks/git/"+a.ID.String(), strings.NewReader(payload))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Hub-Signature-256", "sha256="+hex.EncodeToString(mac.Sum(nil)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var ack struct {
		Queued bool  `json:"queued"`
		Build  int32 `json:"build"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&ack)
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted || !ack.Queued {
		t.Fatalf("webhook: %d %+v", resp.StatusCode, ack)
	}
	b2q := store.PaasBuild{Number: ack.Build}
	b2 := e.waitBuild(a.ID, b2q.Number, 120*time.Second, "succeeded", "build_failed")
	if b2.Status != "succeeded" || *b2.CommitSha != sha2 || b2.Trigger != "webhook" {
		t.Fatalf("build 2 = %s sha %v: %s\n%s", b2.Status, b2.CommitSha, b2.Message, b2.Log)
	}
	pinned2 := fmt.Sprintf("%s/acme/src@%s", reg, *b2.ImageDigest)
	d2 := e.waitReleaseOf(a.ID, *b2.Generation)
	e.waitDeployment(a.ID, d2.Version, "deployed", 90*time.Second)
	swarmtest.Eventually(t, 60*time.Second, "the app serves v2's content over HTTP, and only that", func() bool {
		return slices.Equal(e.served(a.ID), []string{"two"})
	})

	// A broken Dockerfile: build_failed with the builder's error; v2 keeps serving.
	repo.Commit("broken", map[string]string{"Dockerfile": "FROM paas-testapp:v1\nCOPY missing.txt /missing.txt\n"})
	b3q, _ := build.Enqueue(e.ctx, e.store, a.ID, "master", "webhook")
	b3 := e.waitBuild(a.ID, b3q.Number, 120*time.Second, "succeeded", "build_failed")
	if b3.Status != "build_failed" || !strings.Contains(b3.Log, "missing.txt") || !strings.Contains(b3.Message, "builder:") {
		t.Fatalf("build 3 = %s: %s\n%s", b3.Status, b3.Message, b3.Log)
	}
	if got := e.app(a.ID); got.Image != pinned2 {
		t.Fatalf("app image %q after a failed build, want %q", got.Image, pinned2)
	}
	svc, _ = e.service(a.ID)
	if img := svc.Spec.TaskTemplate.ContainerSpec.Image; img != pinned2 || !slices.Equal(e.served(a.ID), []string{"two"}) {
		t.Fatalf("service image %q after a failed build, want v2 %q", img, pinned2)
	}

	// Each outcome so far is timed in paas_build_duration_seconds.
	for outcome, want := range map[string]uint64{"succeeded": 2, "build_failed": 1} {
		if n := buildsTimed(t, e, outcome); n < want {
			t.Errorf("paas_build_duration_seconds{outcome=%q} counted %d builds, want at least %d", outcome, n, want)
		}
	}

	// A build that never ends (RUN starts the test app's server): cancelled
	// mid-build, then timed out; neither leaves a tagged image or a build
	// in 'building'.
	repo.Commit("hang", map[string]string{"Dockerfile": "FROM paas-testapp:v1\nRUN [\"/testapp\"]\n"})
	b4q, _ := build.Enqueue(e.ctx, e.store, a.ID, "master", "api")
	e.waitBuildStep(a.ID, b4q.Number, 2)
	if _, err := e.store.RequestBuildCancel(e.ctx, store.RequestBuildCancelParams{AppID: a.ID, Number: b4q.Number}); err != nil {
		t.Fatal(err)
	}
	b4 := e.waitBuild(a.ID, b4q.Number, 60*time.Second, "cancelled", "build_failed", "succeeded")
	if b4.Status != "cancelled" {
		t.Fatalf("build 4 = %s: %s", b4.Status, b4.Message)
	}
	if n := e.localImages(fmt.Sprintf("%s/acme/src:b%d", reg, b4.Number)); n != 0 {
		t.Fatalf("cancelled build left %d tagged images", n)
	}
	if _, err := e.store.Pool.Exec(e.ctx, `INSERT INTO paas_settings (key, value) VALUES ('build_timeout_seconds', '3')
		ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value`); err != nil {
		t.Fatal(err)
	}
	b5q, _ := build.Enqueue(e.ctx, e.store, a.ID, "master", "api")
	b5 := e.waitBuild(a.ID, b5q.Number, 60*time.Second, "cancelled", "build_failed", "succeeded")
	if b5.Status != "build_failed" || !strings.Contains(b5.Message, "timed out") {
		t.Fatalf("build 5 = %s: %s", b5.Status, b5.Message)
	}
	if n := e.localImages(fmt.Sprintf("%s/acme/src:b%d", reg, b5.Number)); n != 0 {
		t.Fatalf("timed-out build left %d tagged images", n)
	}
	var building int
	if err := e.store.Pool.QueryRow(e.ctx, `SELECT count(*) FROM paas_builds WHERE status IN ('building', 'queued')`).Scan(&building); err != nil || building != 0 {
		t.Fatalf("%d builds left queued or building (%v)", building, err)
	}
	if got := e.app(a.ID); got.Image != pinned2 {
		t.Fatalf("app image %q, want still %q", got.Image, pinned2)
	}
}

// served asks each running task of the app's service over HTTP what it
// serves and answers the MARKER values (the test app echoes the variables
// named in ECHO_ENV, which the built Dockerfiles set). Tasks are reached on
// docker_gwbridge, which every container of an overlay network joins and
// the host can route to.
func (e *env) served(app uuid.UUID) []string {
	svc, ok := e.service(app)
	if !ok {
		return nil
	}
	list, err := e.docker.ContainerList(e.ctx, container.ListOptions{Filters: filtersFor("label", "com.docker.swarm.service.id="+svc.ID, "status", "running")})
	if err != nil {
		return nil
	}
	gw, err := e.docker.NetworkInspect(e.ctx, "docker_gwbridge", network.InspectOptions{})
	if err != nil {
		return nil
	}
	client := &http.Client{Timeout: 2 * time.Second}
	var markers []string
	for _, c := range list {
		ep, ok := gw.Containers[c.ID]
		if !ok {
			continue
		}
		ip, _, _ := strings.Cut(ep.IPv4Address, "/")
		resp, err := client.Get("http://" + ip + ":8080/")
		if err != nil {
			continue
		}
		var body struct {
			Env map[string]string `json:"env"`
		}
		err = json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if err == nil && resp.StatusCode == http.StatusOK {
			markers = append(markers, body.Env["MARKER"])
		}
	}
	return markers
}

func (e *env) waitBuildStep(app uuid.UUID, number int32, step int32) {
	e.t.Helper()
	swarmtest.Eventually(e.t, 60*time.Second, fmt.Sprintf("build %d at step %d", number, step), func() bool {
		b, err := e.store.GetBuildByNumber(e.ctx, store.GetBuildByNumberParams{AppID: app, Number: number})
		return err == nil && b.Status == "building" && b.Step >= step
	})
}

func (e *env) waitReleaseOf(app uuid.UUID, generation int64) store.Deployment {
	e.t.Helper()
	var d store.Deployment
	swarmtest.Eventually(e.t, 60*time.Second, fmt.Sprintf("release of generation %d", generation), func() bool {
		var err error
		d, err = e.store.GetDeploymentByGeneration(e.ctx, store.GetDeploymentByGenerationParams{AppID: app, Generation: generation})
		return err == nil
	})
	return d
}

func (e *env) releasesAt(app uuid.UUID, generation int64) int {
	var n int
	if err := e.store.Pool.QueryRow(e.ctx, `SELECT count(*) FROM paas_deployments WHERE app_id = $1 AND generation = $2`, app, generation).Scan(&n); err != nil {
		e.t.Fatal(err)
	}
	return n
}

func filtersFor(kv ...string) filters.Args {
	f := filters.NewArgs()
	for i := 0; i+1 < len(kv); i += 2 {
		f.Add(kv[i], kv[i+1])
	}
	return f
}

func imageListByRef(ref string) image.ListOptions {
	return image.ListOptions{Filters: filtersFor("reference", ref)}
}

// TestBuildAutoStatic: builder: auto detects a static site, prints the
// Dockerfile it generated (the alpine family of buildpack_default_stack,
// its static image overridden by buildpack_image_static) in the build log,
// and the app deploys the built image by digest. With
// buildpack_cache_enabled=false a rebuild of the same commit uses no
// cached step; set back to true, the next one does.
func TestBuildAutoStatic(t *testing.T) {
	t.Parallel()
	reg := swarmtest.StartRegistry(t)
	e := setup(t, func(m *controllers.Manager) {
		m.Builds = build.Runner{Registry: reg, Poll: 100 * time.Millisecond, Lease: 2 * time.Second}
	})
	// The alpine family, its static image overridden; no build cache.
	if _, err := e.store.Pool.Exec(e.ctx, `INSERT INTO paas_settings (key, value) VALUES ('buildpack_image_static', 'paas-testapp:v1'),
		('buildpack_default_stack', 'alpine'), ('buildpack_cache_enabled', 'false')`); err != nil {
		t.Fatal(err)
	}
	repo := swarmtest.NewGitRepo(t)
	sha := repo.Commit("site", map[string]string{"index.html": "<h1>hi</h1>\n", "style.css": "h1{}\n"})
	// Created from source: no image until its first build succeeds.
	a := e.createApp("site", "", 1, nil)
	if _, err := e.store.UpsertAppSource(e.ctx, store.UpsertAppSourceParams{AppID: a.ID, GitUrl: repo.URL(), GitRef: "master",
		Dockerfile: "Dockerfile", Builder: "auto"}); err != nil {
		t.Fatal(err)
	}
	// file:// sources are off by default: the runner refuses to clone one.
	refused, err := build.Enqueue(e.ctx, e.store, a.ID, "master", "api")
	if err != nil {
		t.Fatal(err)
	}
	if b := e.waitBuild(a.ID, refused.Number, 60*time.Second, "succeeded", "build_failed"); b.Status != "build_failed" ||
		!strings.Contains(b.Message, spec.SettingAllowFileGitURLs) || b.CommitSha != nil {
		t.Fatalf("file:// build without the setting = %s (sha %v): %s", b.Status, b.CommitSha, b.Message)
	}
	// Meanwhile the app waits for a build, runs nothing and has no release.
	swarmtest.Eventually(t, 30*time.Second, "Ready False AwaitingBuild", func() bool {
		c := e.condition(e.app(a.ID), servicespec.ConditionReady)
		return c.Status == servicespec.StatusFalse && c.Reason == app.ReasonAwaitingBuild
	})
	if _, ok := e.service(a.ID); ok {
		t.Fatal("an app without an image has a service")
	}
	if got := e.app(a.ID); got.Phase != servicespec.PhasePending || got.CurrentDeploymentID.Valid {
		t.Fatalf("app awaiting its build: phase %s, current release %v", got.Phase, got.CurrentDeploymentID)
	}
	e.allowFileGitURLs()
	q, err := build.Enqueue(e.ctx, e.store, a.ID, "master", "api")
	if err != nil {
		t.Fatal(err)
	}
	b := e.waitBuild(a.ID, q.Number, 120*time.Second, "succeeded", "build_failed")
	if b.Status != "succeeded" || *b.CommitSha != sha {
		t.Fatalf("build = %s: %s\n%s", b.Status, b.Message, b.Log)
	}
	for _, want := range []string{"detected stack static", "base images: alpine family", "FROM paas-testapp:v1", "COPY . /usr/share/nginx/html",
		"build cache disabled"} {
		if !strings.Contains(b.Log, want) {
			t.Fatalf("build log lacks %q:\n%s", want, b.Log)
		}
	}
	d := e.waitReleaseOf(a.ID, *b.Generation)
	if d.ImageResolved != fmt.Sprintf("%s/acme/site@%s", reg, *b.ImageDigest) {
		t.Fatalf("release image %s", d.ImageResolved)
	}
	e.waitDeployment(a.ID, d.Version, "deployed", 90*time.Second)

	// The same commit again: without the cache every step runs again;
	// with it (the setting back to true) the steps come from the cache.
	rebuild := func() store.PaasBuild {
		t.Helper()
		q, err := build.Enqueue(e.ctx, e.store, a.ID, "master", "api")
		if err != nil {
			t.Fatal(err)
		}
		b := e.waitBuild(a.ID, q.Number, 120*time.Second, "succeeded", "build_failed")
		if b.Status != "succeeded" {
			t.Fatalf("rebuild = %s: %s\n%s", b.Status, b.Message, b.Log)
		}
		return b
	}
	if b2 := rebuild(); strings.Contains(b2.Log, "Using cache") {
		t.Fatalf("buildpack_cache_enabled=false, yet the build used the cache:\n%s", b2.Log)
	}
	if _, err := e.store.Pool.Exec(e.ctx, `UPDATE paas_settings SET value = 'true' WHERE key = 'buildpack_cache_enabled'`); err != nil {
		t.Fatal(err)
	}
	if b3 := rebuild(); !strings.Contains(b3.Log, "Using cache") || strings.Contains(b3.Log, "build cache disabled") {
		t.Fatalf("buildpack_cache_enabled=true, yet the build did not use the cache:\n%s", b3.Log)
	}
}

// buildsTimed is the count of paas_build_duration_seconds for outcome.
func buildsTimed(t *testing.T, e *env, outcome string) uint64 {
	t.Helper()
	fams, err := e.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() != "paas_build_duration_seconds" {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "outcome" && l.GetValue() == outcome {
					return m.GetHistogram().GetSampleCount()
				}
			}
		}
	}
	return 0
}

// TestBuildRunnerWakesOnNotify: with polling out of the picture (an hour)
// and lease renewals 20 s apart, a queued build is claimed because its
// insert is announced on paas_builds, a cancel requested of the running
// build stops it because the request is announced, and a build queued
// behind it starts when it ends, announced the same way.
func TestBuildRunnerWakesOnNotify(t *testing.T) {
	t.Parallel()
	reg := swarmtest.StartRegistry(t)
	e := setup(t, func(m *controllers.Manager) {
		m.Builds = build.Runner{Registry: reg, Poll: time.Hour, Lease: time.Minute}
	})
	e.allowFileGitURLs()
	repo := swarmtest.NewGitRepo(t)
	repo.Commit("hang", map[string]string{"Dockerfile": "FROM paas-testapp:v1\nRUN [\"/testapp\"]\n"})
	a := e.createApp("wake", "paas-testapp:v1", 1, nil)
	if _, err := e.store.UpsertAppSource(e.ctx, store.UpsertAppSourceParams{AppID: a.ID, GitUrl: repo.URL(), GitRef: "master",
		Dockerfile: "Dockerfile", Builder: "dockerfile"}); err != nil {
		t.Fatal(err)
	}
	first, err := build.Enqueue(e.ctx, e.store, a.ID, "master", "api")
	if err != nil {
		t.Fatal(err)
	}
	e.waitBuildStep(a.ID, first.Number, 2) // claimed, and hanging in its RUN

	sha := repo.Commit("ok", map[string]string{"Dockerfile": "FROM paas-testapp:v1\nENV MARKER=woken\n"})
	second, err := build.Enqueue(e.ctx, e.store, a.ID, sha, "api")
	if err != nil {
		t.Fatal(err)
	}
	if b, err := e.store.GetBuild(e.ctx, second.ID); err != nil || b.Status != "queued" {
		t.Fatalf("second build while the first runs: %s %v, want queued (one build at a time per app)", b.Status, err)
	}
	if _, err := e.store.RequestBuildCancel(e.ctx, store.RequestBuildCancelParams{AppID: a.ID, Number: first.Number}); err != nil {
		t.Fatal(err)
	}
	// Sooner than the next lease renewal could notice the request.
	if b := e.waitBuild(a.ID, first.Number, 12*time.Second, "cancelled", "build_failed", "succeeded"); b.Status != "cancelled" {
		t.Fatalf("first build = %s: %s", b.Status, b.Message)
	}
	b := e.waitBuild(a.ID, second.Number, 60*time.Second, "succeeded", "build_failed", "cancelled")
	if b.Status != "succeeded" || b.CommitSha == nil || *b.CommitSha != sha {
		t.Fatalf("second build = %s sha %v (want %s): %s\n%s", b.Status, b.CommitSha, sha, b.Message, b.Log)
	}
}
