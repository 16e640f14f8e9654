package spec

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

func newKey(t *testing.T) (ssh.PublicKey, ed25519.PrivateKey) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	k, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return k, priv
}

// TestPinnedHostKeys: bare keys and known_hosts lines whose host patterns
// (plain, bracketed with a port, wildcard, hashed) match the credential's
// host are pinned; lines for another host, negated matches, markers and
// text that is no key are refused, naming the line.
func TestPinnedHostKeys(t *testing.T) {
	t.Parallel()
	k, _ := newKey(t)
	k2, _ := newKey(t)
	key := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(k)))
	key2 := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(k2)))
	for _, c := range []struct {
		host, text string
		want       int    // keys pinned
		err        string // or this error
	}{
		{"git.example.com", key, 1, ""},
		{"git.example.com", key + " root@git\n\n# comment\n" + key2, 2, ""},
		{"git.example.com", "git.example.com " + key, 1, ""},
		{"git.example.com:22", "git.example.com,10.0.0.5 " + key, 1, ""},
		{"git.example.com:2222", "[git.example.com]:2222 " + key, 1, ""},
		{"git.example.com", "*.example.com " + key, 1, ""},
		{"git.example.com", knownhosts.Line([]string{knownhosts.HashHostname("git.example.com")}, k), 1, ""},
		{"git.example.com:2222", knownhosts.Line([]string{knownhosts.HashHostname("[git.example.com]:2222")}, k), 1, ""},
		{"git.example.com", "other.example.com " + key, 0, "line 1 is for other.example.com, not git.example.com"},
		{"git.example.com:2222", "git.example.com " + key, 0, "not [git.example.com]:2222"},
		{"git.example.com", knownhosts.Line([]string{knownhosts.HashHostname("other.example.com")}, k), 0, "line 1 is for |1|"},
		{"git.example.com", "*.example.com,!git.example.com " + key, 0, "line 1 is for"},
		{"git.example.com", key + "\n@cert-authority *.example.com " + key2, 0, "line 2: @cert-authority lines are not supported"},
		{"git.example.com", "ssh-ed25519 notbase64", 0, "line 1 is neither a public key"},
		{"git.example.com", "", 0, "is required"},
		{"git.example.com", "# only a comment\n", 0, "holds no key"},
	} {
		keys, err := PinnedHostKeys(c.host, c.text)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%s %q: %v, want an error with %q", c.host, c.text, err, c.err)
			}
			continue
		}
		if err != nil || len(keys) != c.want {
			t.Errorf("%s %q: %d keys, %v; want %d", c.host, c.text, len(keys), err, c.want)
			continue
		}
		if fp := HostKeyFingerprints(keys)[0]; fp != ssh.FingerprintSHA256(k) || !strings.HasPrefix(fp, "SHA256:") {
			t.Errorf("%s %q: fingerprint %s", c.host, c.text, fp)
		}
	}
}

// TestParseDeployKey: an unencrypted OpenSSH key parses; a
// passphrase-protected one is ErrKeyPassphrase; anything else is refused
// without its text in the message.
func TestParseDeployKey(t *testing.T) {
	t.Parallel()
	k, priv := newKey(t)
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	signer, err := ParseDeployKey(string(pem.EncodeToMemory(block)))
	if err != nil || string(signer.PublicKey().Marshal()) != string(k.Marshal()) {
		t.Fatalf("plain key: %v", err)
	}
	enc, err := ssh.MarshalPrivateKeyWithPassphrase(priv, "", []byte("pass"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ParseDeployKey(string(pem.EncodeToMemory(enc))); !errors.Is(err, ErrKeyPassphrase) {
		t.Fatalf("passphrase key: %v", err)
	}
	const junk = "-----BEGIN OPENSSH PRIVATE KEY-----\nc2VjcmV0LWp1bms=\n-----END OPENSSH PRIVATE KEY-----\n"
	if _, err := ParseDeployKey(junk); err == nil || strings.Contains(err.Error(), "c2VjcmV0") {
		t.Fatalf("junk: %v", err)
	}
	if _, err := ParseDeployKey(" \n"); err == nil || !strings.Contains(err.Error(), "is required") {
		t.Fatalf("empty: %v", err)
	}
}
