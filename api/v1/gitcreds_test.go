package v1_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"net/http"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"

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

// sshTestKey makes an ed25519 key: its public half and its private key
// as OpenSSH PEM text, unencrypted or under passphrase.
func sshTestKey(t *testing.T, passphrase string) (ssh.PublicKey, string) {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	var block *pem.Block
	if passphrase == "" {
		block, err = ssh.MarshalPrivateKey(priv, "")
	} else {
		block, err = ssh.MarshalPrivateKeyWithPassphrase(priv, "", []byte(passphrase))
	}
	if err != nil {
		t.Fatal(err)
	}
	pub, err := ssh.NewPublicKey(priv.Public())
	if err != nil {
		t.Fatal(err)
	}
	return pub, string(pem.EncodeToMemory(block))
}

// TestGitSSHCredentials: an owner sets an SSH deploy key with the host's
// pinned key; the answer, the list and the audit log carry the kind, the
// username (git by default), the key's public half and the pinned host
// key's fingerprint, never the private key, which is sealed bound to
// organization and host. A key that does not parse, a passphrase-protected
// one, missing or wrong known_hosts, or a key with a token: 422 naming the
// field, nothing stored, the key never repeated. Another organization sees
// nothing; members and viewers cannot write.
func TestGitSSHCredentials(t *testing.T) {
	t.Parallel()
	f := setup(t)
	viewer := f.addViewer()
	base := "/api/paas/git-credentials"
	acme := []string{"X-Paas-Organization", "acme"}
	deployPub, deployPEM := sshTestKey(t, "")
	hostPub, _ := sshTestKey(t, "")
	_, lockedPEM := sshTestKey(t, "s3cret")
	hostLine := "git.example.com " + strings.TrimSpace(string(ssh.MarshalAuthorizedKey(hostPub)))
	keyBody := strings.Split(deployPEM, "\n")[1] // a line of the key's base64
	hostFP := ssh.FingerprintSHA256(hostPub)
	pubLine := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(deployPub)))

	r := f.do(f.alice.token, http.MethodPut, base+"/git.example.com", map[string]any{"ssh_private_key": deployPEM, "known_hosts": hostLine + "\n"}).want(200)
	var c openapi.GitCredential
	r.decode(&c)
	if c.Host != "git.example.com" || c.Username != "git" || c.Kind != openapi.Ssh || c.PublicKey == nil || *c.PublicKey != pubLine ||
		c.HostKeyFingerprints == nil || len(*c.HostKeyFingerprints) != 1 || (*c.HostKeyFingerprints)[0] != hostFP {
		t.Fatalf("put answer %s", r.Body)
	}
	if strings.Contains(string(r.Body), keyBody) || strings.Contains(string(r.Body), "PRIVATE KEY") {
		t.Fatalf("the answer carries the private key: %s", r.Body)
	}
	// A bare host key line (no host field) and an explicit user, on a host with a port.
	f.do(f.alice.token, http.MethodPut, base+"/git.example.com:2222", map[string]any{"username": "deploy", "ssh_private_key": deployPEM,
		"known_hosts": "# pinned\n" + strings.TrimSpace(string(ssh.MarshalAuthorizedKey(hostPub)))}).want(200)
	f.do(f.alice.token, http.MethodPut, base+"/tokens.example.com", map[string]any{"username": "ci", "token": "glpat-t0ken"}).want(200)

	var l openapi.GitCredentialList
	r = f.do(f.alice.token, http.MethodGet, base, nil).want(200)
	r.decode(&l)
	if len(l.Items) != 3 || l.Items[0].Kind != openapi.Ssh || l.Items[1].Username != "deploy" || l.Items[2].Kind != openapi.Token ||
		l.Items[0].HostKeyFingerprints == nil || (*l.Items[0].HostKeyFingerprints)[0] != hostFP || l.Items[2].PublicKey != nil {
		t.Fatalf("list %s", r.Body)
	}
	if strings.Contains(string(r.Body), keyBody) || strings.Contains(string(r.Body), "glpat-t0ken") {
		t.Fatalf("the list carries a secret: %s", r.Body)
	}
	// Sealed in token_encrypted, bound to organization and host; the pins stored beside it.
	var sealed []byte
	var kind, known string
	if err := f.s.Pool.QueryRow(context.Background(), `SELECT token_encrypted, kind, known_hosts FROM paas_git_credentials WHERE organization_id = $1 AND host = 'git.example.com'`,
		f.acme.ID).Scan(&sealed, &kind, &known); err != nil {
		t.Fatal(err)
	}
	if kind != "ssh" || known != hostLine+"\n" || strings.Contains(string(sealed), keyBody) {
		t.Fatalf("stored %s %q (sealed holds the key: %v)", kind, known, strings.Contains(string(sealed), keyBody))
	}
	if got, err := f.box.Open(sealed, secret.GitCredentialAD(f.acme.ID, "git.example.com")); err != nil || string(got) != deployPEM {
		t.Fatalf("open: %v", err)
	}
	if _, err := f.box.Open(sealed, secret.GitCredentialAD(f.globex.ID, "git.example.com")); err == nil {
		t.Fatal("the key opens under another organization's binding")
	}
	var audited string
	if err := f.s.Pool.QueryRow(context.Background(), `SELECT string_agg(details::text, ';') FROM paas_audit_log WHERE action = 'git_credential.set'`).Scan(&audited); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(audited, hostFP) || !strings.Contains(audited, `"kind": "ssh"`) || strings.Contains(audited, keyBody) {
		t.Fatalf("audit %q", audited)
	}

	// Another organization sees none; members and viewers do not write.
	f.do(f.bob.token, http.MethodGet, base, nil).want(200).decode(&l)
	if len(l.Items) != 0 {
		t.Fatalf("globex lists %+v", l)
	}
	f.do(f.bob.token, http.MethodDelete, base+"/git.example.com", nil).problem(http.StatusNotFound, problem.TypeNotFound)
	before := f.state()
	sshBody := map[string]any{"ssh_private_key": deployPEM, "known_hosts": hostLine}
	f.do(f.carol.token, http.MethodPut, base+"/git.example.com", sshBody, acme...).problem(http.StatusForbidden, problem.TypeForbidden)
	f.do(viewer, http.MethodPut, base+"/git.example.com", sshBody).problem(http.StatusForbidden, problem.TypeForbidden)
	if f.state() != before {
		t.Fatal("a refused write changed the state")
	}

	// Bad input: 422 naming the field and why, nothing stored, no key repeated.
	var n0 int
	count := func() int {
		var n int
		if err := f.s.Pool.QueryRow(context.Background(), `SELECT count(*) FROM paas_git_credentials`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	n0 = count()
	for _, c := range []struct {
		name        string
		body        map[string]any
		field, says string
	}{
		{"not a key", map[string]any{"ssh_private_key": "-----BEGIN OPENSSH PRIVATE KEY-----\n" + keyBody + "\n-----END OPENSSH PRIVATE KEY-----\n", "known_hosts": hostLine}, "ssh_private_key", "is not an SSH private key"},
		{"passphrase", map[string]any{"ssh_private_key": lockedPEM, "known_hosts": hostLine}, "ssh_private_key", "passphrase"},
		{"no known_hosts", map[string]any{"ssh_private_key": deployPEM}, "known_hosts", "is required"},
		{"empty known_hosts", map[string]any{"ssh_private_key": deployPEM, "known_hosts": " \n"}, "known_hosts", "is required"},
		{"known_hosts of another host", map[string]any{"ssh_private_key": deployPEM, "known_hosts": strings.Replace(hostLine, "git.example.com", "evil.example.com", 1)}, "known_hosts", "is for evil.example.com"},
		{"known_hosts not a key", map[string]any{"ssh_private_key": deployPEM, "known_hosts": "git.example.com ssh-ed25519 nope"}, "known_hosts", "line 1 is neither"},
		{"no key", map[string]any{"known_hosts": hostLine}, "ssh_private_key", "is required"},
		{"key and token", map[string]any{"ssh_private_key": deployPEM, "known_hosts": hostLine, "token": "t"}, "token", "not both"},
		{"ssh username", map[string]any{"username": "git@x", "ssh_private_key": deployPEM, "known_hosts": hostLine}, "username", "SSH user name"},
	} {
		r := f.do(f.alice.token, http.MethodPut, base+"/new.example.com", c.body)
		p := r.problem(http.StatusUnprocessableEntity, problem.TypeValidation)
		found := false
		for _, e := range p.Errors {
			found = found || (e.Field == c.field && strings.Contains(e.Message, c.says))
		}
		if !found {
			t.Errorf("%s: %s, want %s: %q", c.name, r.Body, c.field, c.says)
		}
		if strings.Contains(string(r.Body), keyBody) || strings.Contains(string(r.Body), "PRIVATE KEY") {
			t.Errorf("%s: the problem repeats the key: %s", c.name, r.Body)
		}
	}
	if count() != n0 {
		t.Fatal("a refused credential was stored")
	}
}
