package build

import (
	"bytes"
	"context"
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/skypanel/paas/store"
	"github.com/skypanel/paas/store/secret"
	"github.com/skypanel/paas/store/storetest"
)

// gitServer serves one repository (one commit on main) over smart HTTP,
// with git http-backend behind HTTP basic auth of user and password; it
// answers the repository's URL and the commit's sha.
func gitServer(t *testing.T, user, password string) (string, string) {
	t.Helper()
	gitBin, err := exec.LookPath("git")
	if err != nil {
		t.Fatal("git is needed: ", err)
	}
	dir := t.TempDir()
	run := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(gitBin, args...)
		cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com",
			"GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.com", "GIT_CONFIG_GLOBAL=/dev/null")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	work := filepath.Join(dir, "work")
	run("init", "-q", "-b", "main", work)
	if err := os.WriteFile(filepath.Join(work, "Dockerfile"), []byte("FROM scratch\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	run("-C", work, "add", ".")
	run("-C", work, "commit", "-q", "-m", "first")
	sha := run("-C", work, "rev-parse", "HEAD")
	run("clone", "-q", "--bare", work, filepath.Join(dir, "repos", "app.git"))

	backend := &cgi.Handler{Path: gitBin, Args: []string{"http-backend"},
		Env: []string{"GIT_PROJECT_ROOT=" + filepath.Join(dir, "repos"), "GIT_HTTP_EXPORT_ALL=1"}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != user || p != password {
			w.Header().Set("WWW-Authenticate", `Basic realm="git"`)
			http.Error(w, "authentication required", http.StatusUnauthorized)
			return
		}
		backend.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/app.git", sha
}

// TestCloneWithOrganizationCredential: the runner clones an http git URL
// with the credential of the app's organization whose host is the URL's;
// an app of an organization without one, or with a wrong one, fails with
// a message saying so, and no token (nor a password in the URL) shows in
// any message.
func TestCloneWithOrganizationCredential(t *testing.T) {
	t.Parallel()
	const token = "glpat-right-t0ken"
	repo, sha := gitServer(t, "ci", token)
	u, _ := url.Parse(repo)
	host := u.Host // 127.0.0.1:port

	f := newCredFixture(t, 7)
	ctx, newApp := f.ctx, f.newApp
	setCred := func(org uuid.UUID, user, tok string) {
		f.setCred(store.UpsertGitCredentialParams{OrganizationID: org, Host: host, Username: user, Kind: "token"}, tok)
	}
	acme, acmeApp := newApp("acme")
	_, initechApp := newApp("initech")
	wrongOrg, wrongApp := newApp("globex")
	setCred(acme, "ci", token)
	setCred(wrongOrg, "ci", "wrong-t0ken")
	r := &Runner{Store: f.store, Box: f.box}

	// With the organization's credential: cloned at the commit.
	cred, err := r.gitAuth(ctx, acmeApp, repo)
	if err != nil || cred.auth == nil {
		t.Fatalf("acme's credential: %+v, %v", cred, err)
	}
	dir := t.TempDir()
	got, err := clone(ctx, repo, "main", dir, cred)
	if err != nil || got != sha {
		t.Fatalf("clone with the credential: %s, %v", got, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "Dockerfile")); err != nil {
		t.Fatal(err)
	}

	noSecret := func(what string, err error, secrets ...string) string {
		t.Helper()
		if err == nil {
			t.Fatalf("%s: the clone succeeded", what)
		}
		for _, sec := range secrets {
			if strings.Contains(err.Error(), sec) {
				t.Fatalf("%s: the error shows a secret: %v", what, err)
			}
		}
		return err.Error()
	}
	// Another organization without a credential for the host: refused,
	// and told what to do.
	cred, err = r.gitAuth(ctx, initechApp, repo)
	if err != nil || cred.auth != nil {
		t.Fatalf("initech has no credential: %+v, %v", cred, err)
	}
	_, err = clone(ctx, repo, "main", t.TempDir(), cred)
	if msg := noSecret("no credential", err, token); !strings.Contains(msg, "authentication required") || !strings.Contains(msg, "no git credential for "+host) {
		t.Fatalf("no credential: %s", msg)
	}
	// A wrong credential: refused, without the token in the message.
	cred, err = r.gitAuth(ctx, wrongApp, repo)
	if err != nil || cred.auth == nil {
		t.Fatalf("globex's credential: %+v, %v", cred, err)
	}
	_, err = clone(ctx, repo, "main", t.TempDir(), cred)
	if msg := noSecret("wrong credential", err, "wrong-t0ken", token); !strings.Contains(msg, "was refused") {
		t.Fatalf("wrong credential: %s", msg)
	}
	// A password in the URL itself is never shown either.
	withPass := strings.Replace(repo, "http://", "http://ci:url-pass-w0rd@", 1)
	cred, err = r.gitAuth(ctx, initechApp, withPass)
	if err != nil {
		t.Fatal(err)
	}
	_, err = clone(ctx, withPass, "main", t.TempDir(), cred)
	noSecret("password in the URL", err, "url-pass-w0rd")
	if shown := redactURL(withPass); strings.Contains(shown, "url-pass-w0rd") || !strings.Contains(shown, "ci:xxxxx@") {
		t.Fatalf("redacted URL %s", shown)
	}
	// A ref that does not exist: named, with the URL redacted.
	cred, _ = r.gitAuth(ctx, acmeApp, repo)
	if _, err := clone(ctx, repo, "nope", t.TempDir(), cred); err == nil || !strings.Contains(err.Error(), "ref nope not found") {
		t.Fatalf("missing ref: %v", err)
	}
	// A runner without the encryption key says so rather than cloning
	// without the credential.
	if _, err := (&Runner{Store: f.store}).gitAuth(ctx, acmeApp, repo); err == nil || !strings.Contains(err.Error(), "no encryption key") {
		t.Fatalf("no box: %v", err)
	}
	// Other schemes take no credential.
	if cred, err := r.gitAuth(ctx, acmeApp, "file:///srv/git/app.git"); err != nil || cred.auth != nil {
		t.Fatalf("file URL: %+v, %v", cred, err)
	}
}

// credFixture is a real database and box for the clone credential tests.
type credFixture struct {
	t     *testing.T
	ctx   context.Context
	store *store.Store
	box   *secret.Box
	plan  store.Plan
}

func newCredFixture(t *testing.T, keyByte byte) *credFixture {
	t.Helper()
	s := storetest.New(t)
	box, err := secret.NewBox(bytes.Repeat([]byte{keyByte}, 32))
	if err != nil {
		t.Fatal(err)
	}
	plan, err := s.GetPlanByName(context.Background(), "hobby")
	if err != nil {
		t.Fatal(err)
	}
	return &credFixture{t: t, ctx: context.Background(), store: s, box: box, plan: plan}
}

// newApp makes an organization of that slug with one app: their ids.
func (f *credFixture) newApp(slug string) (uuid.UUID, uuid.UUID) {
	f.t.Helper()
	org, err := f.store.CreateOrganization(f.ctx, store.CreateOrganizationParams{Name: slug, Slug: slug})
	if err != nil {
		f.t.Fatal(err)
	}
	a, err := f.store.CreateApp(f.ctx, store.CreateAppParams{OrganizationID: org.ID, Name: "web", ServiceName: "t-" + slug,
		Image: "paas-testapp:v1", Replicas: 1, Port: 8080, Command: []string{}, PlanID: f.plan.ID})
	if err != nil {
		f.t.Fatal(err)
	}
	return org.ID, a.ID
}

// setCred stores org's credential for host, its secret sealed as the API seals it.
func (f *credFixture) setCred(p store.UpsertGitCredentialParams, plain string) {
	f.t.Helper()
	sealed, err := f.box.Seal([]byte(plain), secret.GitCredentialAD(p.OrganizationID, p.Host))
	if err != nil {
		f.t.Fatal(err)
	}
	p.TokenEncrypted = sealed
	if _, err := f.store.UpsertGitCredential(f.ctx, p); err != nil {
		f.t.Fatal(err)
	}
}
