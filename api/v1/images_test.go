package v1_test

import (
	"strings"
	"testing"

	"github.com/skypanel/paas/store"
)

var hex64 = strings.Repeat("3f", 32)

// TestImagesMustBePullableReferences: an app runs only images it could
// pull itself, named by a repository: image ids, digests without a
// repository and names Docker would take for an id prefix are refused on
// create, patch and deploy, with a field error that says why.
func TestImagesMustBePullableReferences(t *testing.T) {
	t.Parallel()
	f := setup(t)
	f.createApp(f.alice.token, "web", map[string]any{"image": "paas-testapp:v1"})
	for _, image := range []string{
		"sha256:" + hex64,
		hex64,
		"3f2a1b4c5d6e",
		"@sha256:" + hex64,
		"cafe",
	} {
		t.Run(image, func(t *testing.T) {
			f := f.on(t)
			before := f.state()
			p := f.do(f.alice.token, "POST", "/api/paas/apps", map[string]any{"name": "other", "spec": map[string]any{"image": image}}).problem(422, "validation-failed")
			e := fieldErr(t, p, "spec.image")
			if !strings.Contains(e.Message, "repository") {
				t.Fatalf("message %q does not say a repository is needed", e.Message)
			}
			p = f.do(f.alice.token, "PATCH", "/api/paas/apps/web", map[string]any{"spec": map[string]any{"image": image}}).problem(422, "validation-failed")
			fieldErr(t, p, "spec.image")
			p = f.do(f.alice.token, "POST", "/api/paas/apps/web/deployments", map[string]any{"image": image}).problem(422, "validation-failed")
			fieldErr(t, p, "image")
			if after := f.state(); after != before {
				t.Fatalf("a refused image changed state:\n%s\n%s", before, after)
			}
		})
	}
	for i, image := range []string{
		"paas-testapp:v2",
		"nginx",
		"cafe:latest",
		"docker.io/library/cafe",
		"nginx@sha256:" + hex64,
		"registry.example.com:5000/team/app:1",
		"ghcr.io/acme/" + hex64[:12],
	} {
		f.createApp(f.alice.token, "ok-"+string(rune('a'+i)), map[string]any{"image": image})
	}
}

// TestAllowedRegistries: with allowed_registries set, images from other
// registries are refused on create, patch, deploy and rollback with a 422
// that names the allowed ones; empty, any registry (and local images) go.
func TestAllowedRegistries(t *testing.T) {
	t.Parallel()
	f := setup(t)
	web := f.createApp(f.alice.token, "web", map[string]any{"image": "paas-testapp:v1"})
	f.insertRelease(web.Id, store.ReleaseSpec{Image: "paas-testapp:v1", Port: 8080, PlanID: f.hobby.ID.String(), PlanName: "hobby"}, "deployed")
	f.do(f.admin.token, "PUT", "/api/admin/paas/settings", map[string]any{"settings": []map[string]any{
		{"key": "allowed_registries", "value": " Registry.Example.com:5000, ghcr.io "}}}).want(200)

	named := func(p interface{ Error() string }, msg string) {
		t.Helper()
		if !strings.Contains(msg, "registry.example.com:5000") || !strings.Contains(msg, "ghcr.io") || !strings.Contains(msg, "docker.io") {
			t.Fatalf("message %q does not name the registry and the allowed ones", msg)
		}
	}
	before := f.state()
	p := f.do(f.alice.token, "POST", "/api/paas/apps", map[string]any{"name": "hub", "spec": map[string]any{"image": "nginx"}}).problem(422, "validation-failed")
	named(&p, fieldErr(t, p, "spec.image").Message)
	p = f.do(f.alice.token, "PATCH", "/api/paas/apps/web", map[string]any{"spec": map[string]any{"image": "nginx:2"}}).problem(422, "validation-failed")
	named(&p, fieldErr(t, p, "spec.image").Message)
	p = f.do(f.alice.token, "POST", "/api/paas/apps/web/deployments", map[string]any{"image": "docker.io/library/nginx:2"}).problem(422, "validation-failed")
	named(&p, fieldErr(t, p, "image").Message)
	if after := f.state(); after != before {
		t.Fatalf("refused images changed state:\n%s\n%s", before, after)
	}

	// Allowed registries go; the app's other fields still change although
	// its own image came from elsewhere.
	f.do(f.alice.token, "POST", "/api/paas/apps/web/deployments", map[string]any{"image": "ghcr.io/acme/web:2"}).want(202)
	f.createApp(f.alice.token, "private", map[string]any{"image": "REGISTRY.example.com:5000/team/app:1"})
	f.do(f.alice.token, "PATCH", "/api/paas/apps/web", map[string]any{"spec": map[string]any{"replicas": 0}}).want(200)

	// Rollback to a release from a registry no longer allowed.
	before = f.state()
	p = f.do(f.alice.token, "POST", "/api/paas/apps/web/rollback", map[string]any{"version": 1}).problem(422, "validation-failed")
	named(&p, fieldErr(t, p, "version").Message)
	if after := f.state(); after != before {
		t.Fatalf("a refused rollback changed state:\n%s\n%s", before, after)
	}

	// Emptied, the setting allows any registry, local images included.
	f.do(f.admin.token, "PUT", "/api/admin/paas/settings", map[string]any{"settings": []map[string]any{
		{"key": "allowed_registries", "value": ""}}}).want(200)
	f.do(f.alice.token, "POST", "/api/paas/apps/web/rollback", map[string]any{"version": 1}).want(202)
	f.createApp(f.alice.token, "hub", map[string]any{"image": "nginx"})

	// The setting is checked when written.
	for _, bad := range []string{"https://ghcr.io", "ghcr.io/acme", "not a host", "ghcr.io:port"} {
		p := f.do(f.admin.token, "PUT", "/api/admin/paas/settings", map[string]any{"settings": []map[string]any{
			{"key": "allowed_registries", "value": bad}}}).problem(422, "validation-failed")
		fieldErr(t, p, "settings[0].value")
	}
}

// TestBuiltImagesStayWithTheirOrganization: with a build registry set, an
// image under another organization's namespace of it (what that
// organization's builds pushed) is refused on create and deploy, and
// nothing is stored; the organization's own built images and images of
// other registries go.
func TestBuiltImagesStayWithTheirOrganization(t *testing.T) {
	t.Parallel()
	f := setup(t)
	f.do(f.admin.token, "PUT", "/api/admin/paas/settings", map[string]any{"settings": []map[string]any{
		{"key": "registry_url", "value": "http://Registry.test:5000/"}}}).want(200)
	digest := "@sha256:" + strings.Repeat("ab", 32)
	web := f.createApp(f.alice.token, "web", map[string]any{"image": "paas-testapp:v1"})

	before := f.state()
	for _, image := range []string{"registry.test:5000/globex/shop" + digest, "REGISTRY.TEST:5000/globex/shop:b3"} {
		p := f.do(f.alice.token, "POST", "/api/paas/apps", map[string]any{"name": "stolen", "spec": map[string]any{"image": image}}).problem(422, "validation-failed")
		if msg := fieldErr(t, p, "spec.image").Message; !strings.Contains(msg, "another organization built") {
			t.Fatalf("create with %s: %q", image, msg)
		}
		p = f.do(f.alice.token, "POST", "/api/paas/apps/web/deployments", map[string]any{"image": image}).problem(422, "validation-failed")
		fieldErr(t, p, "image")
	}
	if after := f.state(); after != before {
		t.Fatalf("refused images changed state:\n%s\n%s", before, after)
	}

	// Its own builds, and other registries (a longer host too), go.
	f.do(f.alice.token, "POST", "/api/paas/apps/web/deployments", map[string]any{"image": "registry.test:5000/acme/web" + digest}).want(202)
	f.createApp(f.alice.token, "other", map[string]any{"image": "registry.test:50000/globex/shop:1"})
	if got := f.storedApp(web.Id).Image; got != "registry.test:5000/acme/web"+digest {
		t.Fatalf("own built image not deployed: %s", got)
	}
}
