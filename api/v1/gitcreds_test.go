package v1_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/skypanel/paas/api/openapi"
	"github.com/skypanel/paas/api/problem"
	"github.com/skypanel/paas/store/secret"
)

// TestGitCredentials: an owner sets, lists and removes the organization's
// git credentials; the token is sealed bound to organization and host and
// never answered (nor audited); another organization sees none of them;
// members and viewers may list but not write.
func TestGitCredentials(t *testing.T) {
	t.Parallel()
	f := setup(t)
	viewer := f.addViewer()
	const token = "glpat-s3cr3t-t0ken-value"
	base := "/api/paas/git-credentials"
	acme := []string{"X-Paas-Organization", "acme"}

	r := f.do(f.alice.token, http.MethodPut, base+"/Git.Example.com", map[string]any{"username": "ci", "token": token}).want(200)
	var c openapi.GitCredential
	r.decode(&c)
	if c.Host != "git.example.com" || c.Username != "ci" || strings.Contains(string(r.Body), token) {
		t.Fatalf("put answer %s", r.Body)
	}
	f.do(f.alice.token, http.MethodPut, base+"/git.example.com:8443", map[string]any{"username": "oauth2", "token": token + "-2"}).want(200)
	// Setting again replaces the username and token.
	f.do(f.alice.token, http.MethodPut, base+"/git.example.com", map[string]any{"username": "deploy", "token": token}).want(200)

	var l openapi.GitCredentialList
	r = f.do(f.alice.token, http.MethodGet, base, nil).want(200)
	r.decode(&l)
	if len(l.Items) != 2 || l.Items[0].Host != "git.example.com" || l.Items[0].Username != "deploy" || l.Items[1].Host != "git.example.com:8443" {
		t.Fatalf("list %s", r.Body)
	}
	if strings.Contains(string(r.Body), token) {
		t.Fatalf("the list carries a token: %s", r.Body)
	}
	// Sealed, bound to organization and host.
	var sealed []byte
	if err := f.s.Pool.QueryRow(context.Background(), `SELECT token_encrypted FROM paas_git_credentials WHERE organization_id = $1 AND host = 'git.example.com'`,
		f.acme.ID).Scan(&sealed); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(sealed), token) {
		t.Fatal("the token is stored in clear")
	}
	if got, err := f.box.Open(sealed, secret.GitCredentialAD(f.acme.ID, "git.example.com")); err != nil || string(got) != token {
		t.Fatalf("open: %q, %v", got, err)
	}
	if _, err := f.box.Open(sealed, secret.GitCredentialAD(f.globex.ID, "git.example.com")); err == nil {
		t.Fatal("a token opens under another organization's binding")
	}
	if _, err := f.box.Open(sealed, secret.GitCredentialAD(f.acme.ID, "git.example.com:8443")); err == nil {
		t.Fatal("a token opens under another host's binding")
	}
	// The audit log names the host and username, never the token.
	var audited string
	if err := f.s.Pool.QueryRow(context.Background(), `SELECT string_agg(action || ' ' || target_id || ' ' || details::text, ';') FROM paas_audit_log WHERE action LIKE 'git_credential.%'`).Scan(&audited); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(audited, "git_credential.set git.example.com") || strings.Contains(audited, token) {
		t.Fatalf("audit %q", audited)
	}

	// Another organization sees none of them, and its owner cannot remove them.
	f.do(f.bob.token, http.MethodGet, base, nil).want(200).decode(&l)
	if len(l.Items) != 0 {
		t.Fatalf("globex lists %+v", l)
	}
	f.do(f.bob.token, http.MethodDelete, base+"/git.example.com", nil).problem(http.StatusNotFound, problem.TypeNotFound)
	// A member lists but does not write; a viewer neither writes.
	f.do(f.carol.token, http.MethodGet, base, nil, acme...).want(200).decode(&l)
	if len(l.Items) != 2 {
		t.Fatalf("a member's list %+v", l)
	}
	before := f.state()
	p := f.do(f.carol.token, http.MethodPut, base+"/git.example.com", map[string]any{"username": "x", "token": "y"}, acme...).problem(http.StatusForbidden, problem.TypeForbidden)
	if !strings.Contains(p.Detail, "owners") {
		t.Fatalf("member's refusal %q does not say why", p.Detail)
	}
	f.do(f.carol.token, http.MethodDelete, base+"/git.example.com", nil, acme...).problem(http.StatusForbidden, problem.TypeForbidden)
	f.do(viewer, http.MethodPut, base+"/git.example.com", map[string]any{"username": "x", "token": "y"}).problem(http.StatusForbidden, problem.TypeForbidden)
	f.do(viewer, http.MethodGet, base, nil).want(200)
	if f.state() != before {
		t.Fatal("a refused write changed the state")
	}

	// Validation: a host as in a URL; username and token required; the
	// answer never repeats the token.
	for _, h := range []string{"user@git.example.com", "git.example.com:x", "a%20b"} {
		f.do(f.alice.token, http.MethodPut, base+"/"+h, map[string]any{"username": "u", "token": token}).problem(http.StatusUnprocessableEntity, problem.TypeValidation)
	}
	r = f.do(f.alice.token, http.MethodPut, base+"/git.example.com", map[string]any{"username": "", "token": token + "\x01"})
	r.problem(http.StatusUnprocessableEntity, problem.TypeValidation)
	if strings.Contains(string(r.Body), token) {
		t.Fatalf("a validation problem repeats the token: %s", r.Body)
	}
	f.do(f.alice.token, http.MethodPut, base+"/git.example.com", map[string]any{"username": "u"}).problem(http.StatusUnprocessableEntity, problem.TypeValidation)

	// Remove: gone from the list; removing again is 404.
	f.do(f.alice.token, http.MethodDelete, base+"/GIT.example.com", nil).want(http.StatusNoContent)
	f.do(f.alice.token, http.MethodDelete, base+"/git.example.com", nil).problem(http.StatusNotFound, problem.TypeNotFound)
	f.do(f.alice.token, http.MethodGet, base, nil).want(200).decode(&l)
	if len(l.Items) != 1 || l.Items[0].Host != "git.example.com:8443" {
		t.Fatalf("list after removal %+v", l)
	}
}
