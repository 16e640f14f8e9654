package cli

import (
	"context"
	"strings"
	"testing"

	"github.com/skypanel/paas/store"
)

// TestDeployFromSourceCommands, against the real API: apply refuses image
// with source before sending anything, sets a source (once: applying it
// again is unchanged); deploy --ref queues a build of that ref and says how
// to follow and cancel it; deploy --image on the source app is refused by
// the API with the remedy; cancel cancels the queued build, and a second
// cancel or an unknown build fails.
func TestDeployFromSourceCommands(t *testing.T) {
	me, s := orgAPI(t)
	ctx := context.Background()
	if out, errs, code := me.run("name: web\nspec: {image: paas-testapp:v1}\n", "apply", "-f", "-"); code != 0 || out != "app/web created\n" {
		t.Fatalf("apply create: %d %q %q", code, out, errs)
	}
	app, err := s.GetAppByName(ctx, store.GetAppByNameParams{OrganizationID: orgOf(t, s), Name: "web"})
	if err != nil {
		t.Fatal(err)
	}
	source := "name: web\nspec:\n  source:\n    git: {url: 'https://git.example.com/acme/web.git', ref: main}\n"

	// image and source together: refused client-side, nothing written.
	_, errs, code := me.run("name: web\nspec:\n  image: paas-testapp:v2\n  source:\n    git: {url: 'https://git.example.com/acme/web.git'}\n", "apply", "-f", "-")
	if code == 0 || !strings.Contains(errs, "spec.image and spec.source are exclusive") {
		t.Fatalf("apply image+source: %d %q", code, errs)
	}
	if _, err := s.GetAppSource(ctx, app.ID); !store.IsNotFound(err) {
		t.Fatalf("a source was stored by a refused apply: %v", err)
	}

	out, errs, code := me.run(source, "apply", "-f", "-")
	if code != 0 || !strings.Contains(out, "app/web configured: source https://git.example.com/acme/web.git@main (Dockerfile)") ||
		!strings.Contains(out, "paasctl deploy web --ref main") {
		t.Fatalf("apply source: %d %q %q", code, out, errs)
	}
	src, err := s.GetAppSource(ctx, app.ID)
	if err != nil || src.GitUrl != "https://git.example.com/acme/web.git" || src.GitRef != "main" || src.Builder != "dockerfile" {
		t.Fatalf("stored source %+v %v", src, err)
	}
	if out, errs, code := me.run(source, "apply", "-f", "-"); code != 0 || out != "app/web unchanged\n" {
		t.Fatalf("apply source again: %d %q %q", code, out, errs)
	}
	out, errs, code = me.run(strings.Replace(source, "ref: main", "ref: release", 1), "apply", "-f", "-")
	if code != 0 || out != "app/web configured: source.git.ref main -> release\n" {
		t.Fatalf("apply a new ref: %d %q %q", code, out, errs)
	}

	// deploy --ref queues a build and prints how to follow it.
	out, errs, code = me.run("", "deploy", "web", "--ref", "v1.2")
	if code != 0 || !strings.Contains(out, "web: build 1 of v1.2 queued") || !strings.Contains(out, "paasctl logs web --build 1 -f") ||
		!strings.Contains(out, "paasctl cancel web 1") {
		t.Fatalf("deploy --ref: %d %q %q", code, out, errs)
	}
	b, err := s.GetBuildByNumber(ctx, store.GetBuildByNumberParams{AppID: app.ID, Number: 1})
	if err != nil || b.Ref != "v1.2" || b.Trigger != "api" || b.Status != "queued" {
		t.Fatalf("stored build %+v %v", b, err)
	}

	// The wrong kind of deployment, and both kinds at once.
	if _, errs, code := me.run("", "deploy", "web", "--image", "paas-testapp:v2"); code == 0 || !strings.Contains(errs, "built from source") {
		t.Fatalf("deploy --image on a source app: %d %q", code, errs)
	}
	if _, errs, code := me.run("", "deploy", "web", "--image", "paas-testapp:v2", "--ref", "main"); code == 0 || !strings.Contains(errs, "not both") {
		t.Fatalf("deploy --image --ref: %d %q", code, errs)
	}
	if got, _ := s.GetApp(ctx, app.ID); got.Image != "paas-testapp:v1" {
		t.Fatalf("image changed to %s", got.Image)
	}

	// cancel: the queued build ends cancelled; then nothing to cancel.
	if out, errs, code := me.run("", "cancel", "web", "1"); code != 0 || out != "web: build 1 cancelled\n" {
		t.Fatalf("cancel: %d %q %q", code, out, errs)
	}
	if b, _ := s.GetBuildByNumber(ctx, store.GetBuildByNumberParams{AppID: app.ID, Number: 1}); b.Status != "cancelled" {
		t.Fatalf("build after cancel: %s", b.Status)
	}
	if _, errs, code := me.run("", "cancel", "web", "1"); code == 0 || !strings.Contains(errs, "already ended: cancelled") {
		t.Fatalf("cancel again: %d %q", code, errs)
	}
	if _, errs, code := me.run("", "cancel", "web", "7"); code == 0 || !strings.Contains(errs, "no build") {
		t.Fatalf("cancel unknown: %d %q", code, errs)
	}

	// A release of a built image is listed by its build, ref and commit.
	digest := "sha256:" + strings.Repeat("ab", 32)
	sha := "0123456789abcdef0123456789abcdef01234567"
	if _, err := s.Pool.Exec(ctx, `UPDATE paas_builds SET status = 'succeeded', commit_sha = $2, image_digest = $3 WHERE app_id = $1 AND number = 1`,
		app.ID, sha, digest); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Pool.Exec(ctx, `INSERT INTO paas_deployments (app_id, version, generation, image, image_resolved, spec, status)
		VALUES ($1, 1, 1, $2, $2, '{}', 'deployed')`, app.ID, "registry.test/acme/web@"+digest); err != nil {
		t.Fatal(err)
	}
	out, errs, code = me.run("", "get", "deployments", "web")
	if code != 0 || !strings.Contains(out, "build 1: v1.2 at 0123456789ab") {
		t.Fatalf("get deployments: %d %q %q", code, out, errs)
	}

	// A new app declared with a source only is created from it, its first
	// build queued; applying the file again changes nothing.
	built := "name: built\nspec:\n  source:\n    git: {url: 'https://git.example.com/acme/built.git'}\n    builder: auto\n"
	out, errs, code = me.run(built, "apply", "-f", "-")
	if code != 0 || out != "app/built created (build 1 queued; follow it: paasctl logs built --build 1 -f)\n" {
		t.Fatalf("apply new app from source: %d %q %q", code, out, errs)
	}
	nb, err := s.GetAppByName(ctx, store.GetAppByNameParams{OrganizationID: orgOf(t, s), Name: "built"})
	if err != nil || nb.Image != "" {
		t.Fatalf("app created from source: %+v %v", nb, err)
	}
	if b, err := s.GetBuildByNumber(ctx, store.GetBuildByNumberParams{AppID: nb.ID, Number: 1}); err != nil || b.Ref != "main" || b.Status != "queued" {
		t.Fatalf("first build %+v %v", b, err)
	}
	if out, errs, code := me.run(built, "apply", "-f", "-"); code != 0 || out != "app/built unchanged\n" {
		t.Fatalf("apply again: %d %q %q", code, out, errs)
	}

	// diff shows a source change (and exits 2 with --exit-code), and none
	// for the file as applied.
	if _, _, code := me.run(built, "diff", "-f", "-", "--exit-code"); code != 0 {
		t.Fatalf("diff of the applied file: exit %d, want 0", code)
	}
	moved := strings.Replace(built, "built.git'}", "built.git', ref: v2}", 1)
	out, errs, code = me.run(moved, "diff", "-f", "-", "--exit-code")
	if code != 2 || !strings.Contains(out, "source.git.ref") || !strings.Contains(out, "v2") {
		t.Fatalf("diff of a new ref: %d %q %q", code, out, errs)
	}

	// Its webhook secret is made on request, printed with the URL, and
	// stored sealed (two requests, two secrets).
	out, errs, code = me.run("", "webhook-secret", "built")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != 0 || len(lines) != 2 || !strings.HasSuffix(lines[0], "/api/paas/hooks/git/"+nb.ID.String()) || len(lines[1]) != len("secret: ")+48 {
		t.Fatalf("webhook-secret: %d %q %q", code, out, errs)
	}
	again, _, _ := me.run("", "webhook-secret", "built")
	if again == out {
		t.Fatal("a second webhook-secret printed the same secret")
	}
	if _, errs, code := me.run("", "webhook-secret", "web2"); code == 0 || !strings.Contains(errs, "not found") {
		t.Fatalf("webhook-secret of an unknown app: %d %q", code, errs)
	}
}

// orgOf is the id of the acme organization orgAPI made.
func orgOf(t *testing.T, s *store.Store) (id [16]byte) {
	t.Helper()
	if err := s.Pool.QueryRow(context.Background(), `SELECT id FROM paas_organizations WHERE slug = 'acme'`).Scan(&id); err != nil {
		t.Fatal(err)
	}
	return id
}
