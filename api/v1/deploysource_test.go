package v1_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/skypanel/paas/api/openapi"
	"github.com/skypanel/paas/api/problem"
	"github.com/skypanel/paas/store"
)

// sourceApp creates an app and gives it a git source; it answers the app
// and the webhook secret.
func (f *fixture) sourceApp(name string) (openapi.App, string) {
	f.t.Helper()
	a := f.createApp(f.alice.token, name, map[string]any{"image": "paas-testapp:v1"})
	var src openapi.AppSourceAnswer
	f.do(f.alice.token, http.MethodPut, "/api/paas/apps/"+name+"/source",
		map[string]any{"git": map[string]any{"url": "https://git.example.com/acme/" + name + ".git", "ref": "main"}}).want(200).decode(&src)
	if src.WebhookSecret == nil {
		f.t.Fatal("no webhook secret on the first PUT of a source")
	}
	return a, *src.WebhookSecret
}

// builds lists an app's builds, oldest first.
func (f *fixture) builds(appID uuid.UUID) []store.PaasBuild {
	f.t.Helper()
	bs, err := f.s.ListBuilds(context.Background(), store.ListBuildsParams{AppID: appID, Limit: 100})
	if err != nil {
		f.t.Fatal(err)
	}
	for i, j := 0, len(bs)-1; i < j; i, j = i+1, j-1 {
		bs[i], bs[j] = bs[j], bs[i]
	}
	return bs
}

// storedApp reads an app's row as stored.
func (f *fixture) storedApp(id uuid.UUID) store.App {
	f.t.Helper()
	a, err := f.s.GetApp(context.Background(), id)
	if err != nil {
		f.t.Fatal(err)
	}
	return a
}

// TestDeployRefQueuesBuild: POST …/deployments {"ref"} on an app with a
// source queues a build of that ref (trigger api) and answers it; image
// and source are exclusive: an image deployment or PATCH of spec.image on
// a source app, a ref on an image app, both fields, or neither are
// refused and store nothing; a rollback may still restore an earlier
// release's image; once the source is removed, images deploy again.
func TestDeployRefQueuesBuild(t *testing.T) {
	t.Parallel()
	f := setup(t)
	a, _ := f.sourceApp("src")
	img := f.createApp(f.alice.token, "img", map[string]any{"image": "paas-testapp:v1"})
	deploys := "/api/paas/apps/src/deployments"

	r := f.do(f.alice.token, http.MethodPost, deploys, map[string]any{"ref": "v2.0"}).want(http.StatusAccepted)
	var b openapi.Build
	r.decode(&b)
	if b.Number != 1 || b.Ref != "v2.0" || b.Trigger != "api" || b.Status != "queued" || b.AppId != a.Id || b.Id == uuid.Nil {
		t.Fatalf("answer of a ref deployment: %+v", b)
	}
	if loc := r.Header.Get("Location"); loc != fmt.Sprintf("/api/paas/apps/%s/builds/1", a.Id) {
		t.Fatalf("Location %q", loc)
	}
	bs := f.builds(a.Id)
	if len(bs) != 1 || bs[0].ID != b.Id || bs[0].Ref != "v2.0" || bs[0].Trigger != "api" || bs[0].Status != "queued" {
		t.Fatalf("stored builds %+v", bs)
	}
	// A sha works too, and supersedes the queued build.
	sha := "0123456789abcdef0123456789abcdef01234567"
	f.do(f.alice.token, http.MethodPost, deploys, map[string]any{"ref": sha}).want(http.StatusAccepted).decode(&b)
	if bs := f.builds(a.Id); len(bs) != 2 || bs[1].Ref != sha || bs[1].Number != 2 || bs[0].Status != "superseded" {
		t.Fatalf("builds after a second ref deployment: %+v", bs)
	}

	// Refused requests change nothing: not the app row (image, version,
	// generation), not the builds, not the audit log.
	stored, before := f.storedApp(a.Id), f.state()
	unchanged := func(what string) {
		t.Helper()
		got := f.storedApp(a.Id)
		if got.Image != stored.Image || got.Version != stored.Version || got.Generation != stored.Generation {
			t.Fatalf("%s changed the app: %+v -> %+v", what, stored, got)
		}
		if len(f.builds(a.Id)) != 2 {
			t.Fatalf("%s queued a build", what)
		}
		if after := f.state(); after != before {
			t.Fatalf("%s changed state:\n%s\n%s", what, before, after)
		}
	}
	for _, image := range []string{"paas-testapp:v2", stored.Image} {
		p := f.do(f.alice.token, http.MethodPost, deploys, map[string]any{"image": image}).problem(http.StatusConflict, problem.TypeConflict)
		if !strings.Contains(p.Detail, "built from source") || !strings.Contains(p.Detail, "/source") || !strings.Contains(p.Detail, `"ref"`) {
			t.Fatalf("image on a source app: detail %q names no remedy", p.Detail)
		}
		fieldErr(t, p, "image")
		unchanged("an image deployment of " + image)
	}
	p := f.do(f.alice.token, http.MethodPatch, "/api/paas/apps/src", map[string]any{"spec": map[string]any{"image": "paas-testapp:v2"}}).
		problem(http.StatusConflict, problem.TypeConflict)
	fieldErr(t, p, "spec.image")
	unchanged("a PATCH of spec.image")
	p = f.do(f.alice.token, http.MethodPost, deploys, map[string]any{"image": "paas-testapp:v2", "ref": "main"}).
		problem(http.StatusUnprocessableEntity, problem.TypeValidation)
	fieldErr(t, p, "image")
	fieldErr(t, p, "ref")
	unchanged("image and ref at once")
	fieldErr(t, f.do(f.alice.token, http.MethodPost, deploys, map[string]any{}).problem(http.StatusUnprocessableEntity, problem.TypeValidation), "image")
	for _, bad := range []string{"", "has space", "a..b", "-x", "main:evil", strings.Repeat("a", 256)} {
		fieldErr(t, f.do(f.alice.token, http.MethodPost, deploys, map[string]any{"ref": bad}).
			problem(http.StatusUnprocessableEntity, problem.TypeValidation), "ref")
	}
	unchanged("invalid requests")

	// A ref on an app without source: 409 with the remedy, nothing queued.
	p = f.do(f.alice.token, http.MethodPost, "/api/paas/apps/img/deployments", map[string]any{"ref": "main"}).problem(http.StatusConflict, problem.TypeConflict)
	if !strings.Contains(p.Detail, "no source") || !strings.Contains(p.Detail, "PUT /api/paas/apps/img/source") {
		t.Fatalf("ref on an image app: %q", p.Detail)
	}
	if n := len(f.builds(img.Id)); n != 0 {
		t.Fatalf("%d builds queued for an app without source", n)
	}
	// Image deployments of image apps are as they were.
	if got := f.do(f.alice.token, http.MethodPost, "/api/paas/apps/img/deployments", map[string]any{"image": "paas-testapp:v2"}).
		want(http.StatusAccepted).app(); got.Spec.Image != "paas-testapp:v2" {
		t.Fatalf("image deployment: %+v", got.Spec)
	}

	// A rollback restores an earlier release's image, even from source.
	f.insertRelease(a.Id, store.ReleaseSpec{Image: "registry.test/acme/src@sha256:" + strings.Repeat("cd", 32),
		PlanID: f.hobby.ID.String(), PlanName: "hobby", Port: 8080}, "deployed")
	if got := f.do(f.alice.token, http.MethodPost, "/api/paas/apps/src/rollback", map[string]any{"version": 1}).
		want(http.StatusAccepted).app(); !strings.HasPrefix(got.Spec.Image, "registry.test/acme/src@") {
		t.Fatalf("rollback of a source app: %+v", got.Spec)
	}

	// Removing the source cancels the queued build; images deploy again,
	// refs no longer.
	var src openapi.AppSourceAnswer
	f.do(f.alice.token, http.MethodGet, "/api/paas/apps/src/source", nil).want(200).decode(&src)
	if src.Git.Url != "https://git.example.com/acme/src.git" || src.Git.Ref != "main" || src.WebhookSecret != nil {
		t.Fatalf("GET source: %+v", src)
	}
	f.do(f.alice.token, http.MethodDelete, "/api/paas/apps/src/source", nil).want(http.StatusNoContent)
	f.do(f.alice.token, http.MethodGet, "/api/paas/apps/src/source", nil).problem(http.StatusNotFound, problem.TypeNotFound)
	if bs := f.builds(a.Id); bs[1].Status != "cancelled" || !bs[1].CancelRequested {
		t.Fatalf("queued build after the source was removed: %+v", bs[1])
	}
	f.do(f.alice.token, http.MethodDelete, "/api/paas/apps/src/source", nil).problem(http.StatusNotFound, problem.TypeNotFound)
	f.do(f.alice.token, http.MethodPost, deploys, map[string]any{"ref": "main"}).problem(http.StatusConflict, problem.TypeConflict)
	if got := f.do(f.alice.token, http.MethodPost, deploys, map[string]any{"image": "paas-testapp:v2"}).
		want(http.StatusAccepted).app(); got.Spec.Image != "paas-testapp:v2" {
		t.Fatalf("image deployment after the source went: %+v", got.Spec)
	}
}

// TestCancelDeploymentFromSource: POST …/deployments/{deployment}/cancel
// names a build by id or number: a queued build ends cancelled at once, a
// running one gets cancel_requested (its runner stops it); a build that
// ended answers 409 naming its status (also through …/builds/{n}/cancel,
// which shares the code); an unknown or another app's build answers 404.
func TestCancelDeploymentFromSource(t *testing.T) {
	t.Parallel()
	f := setup(t)
	a, _ := f.sourceApp("src")
	other, _ := f.sourceApp("other")
	deploy := func(app, ref string) openapi.Build {
		var b openapi.Build
		f.do(f.alice.token, http.MethodPost, "/api/paas/apps/"+app+"/deployments", map[string]any{"ref": ref}).want(http.StatusAccepted).decode(&b)
		return b
	}
	cancel := func(dep string) *res {
		return f.do(f.alice.token, http.MethodPost, "/api/paas/apps/src/deployments/"+dep+"/cancel", nil)
	}

	// Queued, named by its id: cancelled at once.
	b1 := deploy("src", "main")
	var got openapi.Build
	cancel(b1.Id.String()).want(http.StatusAccepted).decode(&got)
	if got.Id != b1.Id || got.Status != "cancelled" || got.FinishedAt == nil {
		t.Fatalf("cancel of a queued build: %+v", got)
	}
	if bs := f.builds(a.Id); bs[0].Status != "cancelled" || !bs[0].CancelRequested {
		t.Fatalf("stored: %+v", bs[0])
	}

	// Running, named by its number: asked to stop, still building.
	b2 := deploy("src", "main")
	if _, err := f.s.Pool.Exec(context.Background(),
		`UPDATE paas_builds SET status = 'building', started_at = now(), attempts = 1 WHERE id = $1`, b2.Id); err != nil {
		t.Fatal(err)
	}
	cancel("2").want(http.StatusAccepted).decode(&got)
	if got.Number != 2 || got.Status != "building" {
		t.Fatalf("cancel of a running build: %+v", got)
	}
	if bs := f.builds(a.Id); bs[1].Status != "building" || !bs[1].CancelRequested {
		t.Fatalf("running build after cancel: %+v", bs[1])
	}

	// Ended builds: 409 naming the status, through both routes; nothing
	// changes.
	if _, err := f.s.Pool.Exec(context.Background(),
		`UPDATE paas_builds SET status = 'succeeded', finished_at = now() WHERE id = $1`, b2.Id); err != nil {
		t.Fatal(err)
	}
	before := f.state()
	for _, tc := range []struct{ path, status string }{
		{"/api/paas/apps/src/deployments/1/cancel", "cancelled"},
		{"/api/paas/apps/src/deployments/" + b2.Id.String() + "/cancel", "succeeded"},
		{"/api/paas/apps/src/builds/2/cancel", "succeeded"},
	} {
		p := f.do(f.alice.token, http.MethodPost, tc.path, nil).problem(http.StatusConflict, problem.TypeConflict)
		if !strings.Contains(p.Detail, tc.status) {
			t.Fatalf("%s: detail %q does not name %s", tc.path, p.Detail, tc.status)
		}
	}
	if after := f.state(); after != before {
		t.Fatalf("cancel of ended builds changed state:\n%s\n%s", before, after)
	}

	// Unknown: 404. Another app's build is unknown here.
	ob := deploy("other", "main")
	for _, dep := range []string{"9", uuid.NewString(), ob.Id.String(), "0", "latest"} {
		cancel(dep).problem(http.StatusNotFound, problem.TypeNotFound)
	}
	if bs := f.builds(other.Id); bs[0].Status != "queued" || bs[0].CancelRequested {
		t.Fatalf("another app's build was touched: %+v", bs[0])
	}
	f.do(f.alice.token, http.MethodPost, "/api/paas/apps/src/builds/9/cancel", nil).problem(http.StatusNotFound, problem.TypeNotFound)
}

// TestDeployLimitCountsBuilds: every way of asking for a build — POST
// …/builds, POST …/deployments {"ref"}, a signed push webhook — takes a
// slot of max_deployments_per_hour; over the limit each answers 429 and
// queues nothing.
func TestDeployLimitCountsBuilds(t *testing.T) {
	t.Parallel()
	f := setup(t)
	// Four slots: the app's creation takes the first.
	f.setSetting("max_deployments_per_hour", "4")
	a, secret := f.sourceApp("src")
	hook := fmt.Sprintf("/api/paas/hooks/git/%s", a.Id)
	body := `{"ref":"refs/heads/main","after":"0123456789abcdef0123456789abcdef01234567"}`
	push := func() *res {
		return f.do("", http.MethodPost, hook, raw{contentType: "application/json", body: body}, "X-Hub-Signature-256", "sha256="+sign(secret, body))
	}

	f.do(f.alice.token, http.MethodPost, "/api/paas/apps/src/builds", map[string]any{"ref": "main"}).want(http.StatusAccepted)
	f.do(f.alice.token, http.MethodPost, "/api/paas/apps/src/deployments", map[string]any{"ref": "main"}).want(http.StatusAccepted)
	var ack openapi.GitWebhookAck
	push().want(http.StatusAccepted).decode(&ack)
	if !ack.Queued {
		t.Fatalf("webhook under the limit: %+v", ack)
	}
	if n := len(f.builds(a.Id)); n != 3 {
		t.Fatalf("%d builds, want 3", n)
	}

	// All four slots are taken: had any of the three not taken one, the
	// first request below would pass.
	before := f.state()
	for _, tc := range []struct {
		name string
		do   func() *res
	}{
		{"webhook", push},
		{"deployment", func() *res {
			return f.do(f.alice.token, http.MethodPost, "/api/paas/apps/src/deployments", map[string]any{"ref": "main"})
		}},
		{"build", func() *res {
			return f.do(f.alice.token, http.MethodPost, "/api/paas/apps/src/builds", map[string]any{"ref": "main"})
		}},
	} {
		r := tc.do()
		p := r.problem(http.StatusTooManyRequests, problem.TypeLimitExceeded)
		if p.Limit != "max_deployments_per_hour" || p.LimitValue == nil || *p.LimitValue != 4 || p.Current == nil || *p.Current != 4 || r.Header.Get("Retry-After") == "" {
			t.Fatalf("%s over the limit: %+v %v", tc.name, p, r.Header)
		}
		if n := len(f.builds(a.Id)); n != 3 {
			t.Fatalf("%s over the limit queued a build: %d builds", tc.name, n)
		}
	}
	if after := f.state(); after != before {
		t.Fatalf("refused builds changed state:\n%s\n%s", before, after)
	}
	// The newest queued build is still the webhook's, not superseded.
	if bs := f.builds(a.Id); bs[2].Trigger != "webhook" || bs[2].Status != "queued" {
		t.Fatalf("builds after the refusals: %+v", bs)
	}
}

// TestCreateAppFromSource: an app created with spec.source instead of an
// image is stored without an image, with its source (defaults filled in)
// and build 1 of its ref queued; image with source, neither, a file://
// URL (off by default) or a URL holding a token are refused and store
// nothing. The app awaiting its build can still be patched; spec.source
// cannot be patched. Its webhook secret is made by the first PUT of the
// source, or by POST …/source/webhook-secret, which replaces it: the old
// secret stops verifying, the new one queues a build.
func TestCreateAppFromSource(t *testing.T) {
	t.Parallel()
	f := setup(t)
	source := map[string]any{"git": map[string]any{"url": "https://git.example.com/acme/src.git"}, "builder": "auto"}

	before := f.state()
	for _, c := range []struct {
		spec  map[string]any
		field string
		want  string
	}{
		{map[string]any{"image": "paas-testapp:v1", "source": source}, "spec.source", "exclusive with spec.image"},
		{map[string]any{"replicas": 1}, "spec.image", "or spec.source"},
		{map[string]any{"source": map[string]any{"git": map[string]any{"url": "file:///srv/git/src.git"}}}, "spec.source.git.url", "build_allow_file_urls"},
		{map[string]any{"source": map[string]any{"git": map[string]any{"url": "https://ci:tok@git.example.com/x.git"}}}, "spec.source.git.url", "must not hold a password"},
		{map[string]any{"source": map[string]any{"git": map[string]any{"url": "https://git.example.com/x.git"}, "builder": "auto", "dockerfile": "D"}}, "spec.source.dockerfile", "exclusive"},
	} {
		p := f.do(f.alice.token, http.MethodPost, "/api/paas/apps", map[string]any{"name": "src", "spec": c.spec}).problem(http.StatusUnprocessableEntity, problem.TypeValidation)
		found := false
		for _, e := range p.Errors {
			found = found || e.Field == c.field && strings.Contains(e.Message, c.want)
		}
		if !found {
			t.Fatalf("spec %v: errors %+v, want %s: …%s…", c.spec, p.Errors, c.field, c.want)
		}
	}
	if after := f.state(); after != before {
		t.Fatalf("refused creations changed stored state:\n%s\n%s", before, after)
	}

	a := f.createApp(f.alice.token, "src", map[string]any{"source": source, "replicas": 0})
	if a.Spec.Image != "" || f.storedApp(a.Id).Image != "" {
		t.Fatalf("app created from source has image %q", a.Spec.Image)
	}
	var src openapi.AppSourceAnswer
	f.do(f.alice.token, http.MethodGet, "/api/paas/apps/src/source", nil).want(200).decode(&src)
	if src.Git.Url != "https://git.example.com/acme/src.git" || src.Git.Ref != "main" || src.Builder != "auto" || src.WebhookSecret != nil {
		t.Fatalf("stored source %+v", src)
	}
	if bs := f.builds(a.Id); len(bs) != 1 || bs[0].Number != 1 || bs[0].Ref != "main" || bs[0].Status != "queued" || bs[0].Trigger != "api" {
		t.Fatalf("builds after create %+v, want build 1 of main queued", bs)
	}

	// Patching the app awaiting its build: no image required; no source.
	f.do(f.alice.token, http.MethodPatch, "/api/paas/apps/src", raw{contentType: "application/merge-patch+json", body: `{"spec":{"replicas":1}}`}).want(200)
	if got := f.storedApp(a.Id); got.Replicas != 1 || got.Image != "" {
		t.Fatalf("after patch: replicas %d image %q", got.Replicas, got.Image)
	}
	p := f.do(f.alice.token, http.MethodPatch, "/api/paas/apps/src", raw{contentType: "application/merge-patch+json",
		body: `{"spec":{"source":{"git":{"url":"https://git.example.com/other.git"}}}}`}).problem(http.StatusUnprocessableEntity, problem.TypeValidation)
	if len(p.Errors) != 1 || p.Errors[0].Field != "spec.source" || !strings.Contains(p.Errors[0].Message, "PUT /api/paas/apps/{app}/source") {
		t.Fatalf("patch of spec.source: %+v", p.Errors)
	}

	// The webhook secret: made by the first PUT, then replaced on request.
	f.do(f.alice.token, http.MethodPut, "/api/paas/apps/src/source", source).want(200).decode(&src)
	if src.WebhookSecret == nil {
		t.Fatal("the first PUT of a source made with the app answered no webhook secret")
	}
	old := *src.WebhookSecret
	var rotated openapi.WebhookSecret
	f.do(f.alice.token, http.MethodPost, "/api/paas/apps/src/source/webhook-secret", nil).want(200).decode(&rotated)
	if rotated.WebhookSecret == "" || rotated.WebhookSecret == old || rotated.Path != "/api/paas/hooks/git/"+a.Id.String() {
		t.Fatalf("rotated secret %+v (old %s)", rotated, old)
	}
	body := `{"ref":"refs/heads/main","after":"0123456789abcdef0123456789abcdef01234567"}`
	f.do("", http.MethodPost, rotated.Path, raw{contentType: "application/json", body: body},
		"X-Hub-Signature-256", "sha256="+sign(old, body)).problem(http.StatusUnauthorized, problem.TypeUnauthorized)
	f.do("", http.MethodPost, rotated.Path, raw{contentType: "application/json", body: body},
		"X-Hub-Signature-256", "sha256="+sign(rotated.WebhookSecret, body)).want(http.StatusAccepted)
	if bs := f.builds(a.Id); len(bs) != 2 || bs[1].Trigger != "webhook" {
		t.Fatalf("builds after the signed push %+v", bs)
	}
	// An app without a source has no webhook to rotate.
	f.createApp(f.alice.token, "img", map[string]any{"image": "paas-testapp:v1"})
	f.do(f.alice.token, http.MethodPost, "/api/paas/apps/img/source/webhook-secret", nil).problem(http.StatusNotFound, problem.TypeNotFound)
}
