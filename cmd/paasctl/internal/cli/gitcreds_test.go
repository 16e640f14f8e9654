package cli

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
)

// TestGitCredentialsCommands: set reads the token from stdin (never an
// argument) and prints no token; list shows hosts and usernames only; rm
// removes; a missing username is refused before any request.
func TestGitCredentialsCommands(t *testing.T) {
	t.Parallel()
	me, s := orgAPI(t)
	const token = "glpat-cli-t0ken"
	out, errs, code := me.run(token+"\n", "git-credentials", "set", "Git.Example.com", "--username", "oauth2")
	if code != 0 || out != "git-credential/git.example.com set (username oauth2)\n" || strings.Contains(out+errs, token) {
		t.Fatalf("set: %d %q %q", code, out, errs)
	}
	var n int
	if err := s.Pool.QueryRow(context.Background(), `SELECT count(*) FROM paas_git_credentials WHERE host = 'git.example.com' AND username = 'oauth2'`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("stored credentials: %d, %v", n, err)
	}
	out, errs, code = me.run("", "git-credentials", "list")
	if code != 0 || !strings.Contains(out, "git.example.com") || !strings.Contains(out, "oauth2") || strings.Contains(out, token) {
		t.Fatalf("list: %d %q %q", code, out, errs)
	}
	out, _, code = me.run("", "git-credentials", "list", "-o", "json")
	if code != 0 || !strings.Contains(out, `"host": "git.example.com"`) || strings.Contains(out, token) {
		t.Fatalf("list -o json: %d %q", code, out)
	}
	if _, errs, code = me.run(token+"\n", "git-credentials", "set", "git.example.com"); code == 0 || !strings.Contains(errs, "--username") {
		t.Fatalf("set without --username: %d %q", code, errs)
	}
	if out, errs, code = me.run("", "git-credentials", "rm", "git.example.com"); code != 0 || out != "git-credential/git.example.com removed\n" {
		t.Fatalf("rm: %d %q %q", code, out, errs)
	}
	if _, errs, code = me.run("", "git-credentials", "rm", "git.example.com"); code != 1 || !strings.Contains(errs, "no git credential") {
		t.Fatalf("rm again: %d %q", code, errs)
	}
}

// TestGitCredentialsSSHCommands: set --ssh-key FILE --known-hosts FILE
// stores a deploy key (user git unless --username) and prints its public
// half and the pinned host key's fingerprint, never the private key; list
// shows the kind and the fingerprint; a passphrase-protected key is
// refused by the API with the reason; --ssh-key without --known-hosts is
// refused before any request.
func TestGitCredentialsSSHCommands(t *testing.T) {
	t.Parallel()
	me, s := orgAPI(t)
	newKey := func(passphrase string) (ssh.PublicKey, string) {
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		block, err := ssh.MarshalPrivateKey(priv, "")
		if passphrase != "" {
			block, err = ssh.MarshalPrivateKeyWithPassphrase(priv, "", []byte(passphrase))
		}
		if err != nil {
			t.Fatal(err)
		}
		pub, _ := ssh.NewPublicKey(priv.Public())
		return pub, string(pem.EncodeToMemory(block))
	}
	deployPub, deployPEM := newKey("")
	hostPub, _ := newKey("")
	_, lockedPEM := newKey("pw")
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	keyFile, lockedFile := write("deploy_key", deployPEM), write("locked_key", lockedPEM)
	khFile := write("keys", "git.example.com "+string(ssh.MarshalAuthorizedKey(hostPub)))
	keyBody := strings.Split(deployPEM, "\n")[1]
	hostFP := ssh.FingerprintSHA256(hostPub)

	out, errs, code := me.run("", "git-credentials", "set", "git.example.com", "--ssh-key", keyFile, "--known-hosts", khFile)
	if code != 0 || !strings.Contains(out, "git-credential/git.example.com set (ssh key, username git, host key "+hostFP+")") ||
		!strings.Contains(out, strings.TrimSpace(string(ssh.MarshalAuthorizedKey(deployPub)))) || strings.Contains(out+errs, keyBody) {
		t.Fatalf("set --ssh-key: %d %q %q", code, out, errs)
	}
	var kind, user string
	if err := s.Pool.QueryRow(context.Background(), `SELECT kind, username FROM paas_git_credentials WHERE host = 'git.example.com'`).Scan(&kind, &user); err != nil || kind != "ssh" || user != "git" {
		t.Fatalf("stored: %s %s, %v", kind, user, err)
	}
	if _, errs, code = me.run("", "git-credentials", "set", "git.example.com:2222", "--ssh-key", keyFile, "--known-hosts",
		write("bare", string(ssh.MarshalAuthorizedKey(hostPub))), "--username", "deploy"); code != 0 {
		t.Fatalf("set --username deploy: %d %q", code, errs)
	}
	out, errs, code = me.run("", "git-credentials", "list")
	if code != 0 || !strings.Contains(out, "ssh") || !strings.Contains(out, hostFP) || !strings.Contains(out, "deploy") || strings.Contains(out, keyBody) {
		t.Fatalf("list: %d %q %q", code, out, errs)
	}
	out, _, code = me.run("", "git-credentials", "list", "-o", "json")
	if code != 0 || !strings.Contains(out, `"kind": "ssh"`) || !strings.Contains(out, hostFP) || strings.Contains(out, keyBody) {
		t.Fatalf("list -o json: %d %q", code, out)
	}
	// A passphrase-protected key: the API's reason, nothing stored.
	if _, errs, code = me.run("", "git-credentials", "set", "locked.example.com", "--ssh-key", lockedFile, "--known-hosts", khFile); code == 0 || !strings.Contains(errs, "passphrase") {
		t.Fatalf("passphrase key: %d %q", code, errs)
	}
	// --ssh-key without --known-hosts: refused before any request.
	if _, errs, code = me.run("", "git-credentials", "set", "other.example.com", "--ssh-key", keyFile); code == 0 || !strings.Contains(errs, "--known-hosts") {
		t.Fatalf("no --known-hosts: %d %q", code, errs)
	}
	var n int
	if err := s.Pool.QueryRow(context.Background(), `SELECT count(*) FROM paas_git_credentials`).Scan(&n); err != nil || n != 2 {
		t.Fatalf("credentials stored: %d, %v", n, err)
	}
}
