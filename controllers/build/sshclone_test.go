package build

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/binary"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/uuid"
	"golang.org/x/crypto/ssh"

	"github.com/skypanel/paas/store"
)

// sshKey makes an ed25519 key: its signer and its private key as
// OpenSSH PEM text, as ssh-keygen writes it.
func sshKey(t *testing.T) (ssh.Signer, string) {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	return signer, string(pem.EncodeToMemory(block))
}

// sshGitServer is a git host over SSH on a loopback port: a real SSH
// server (golang.org/x/crypto/ssh) with host key hostKey that lets in only
// user with the public key of authorized, and runs the real
// git-upload-pack for an exec request "git-upload-pack '<path>'" of a path
// under root. It answers its address (127.0.0.1:port) and counts the
// logins it let in.
type sshGitServer struct {
	addr   string
	logins atomic.Int32
}

func startSSHGitServer(t *testing.T, hostKey ssh.Signer, user string, authorized ssh.PublicKey, root string) *sshGitServer {
	t.Helper()
	uploadPack, err := exec.LookPath("git-upload-pack")
	if err != nil {
		t.Fatal("git-upload-pack is needed: ", err)
	}
	srv := &sshGitServer{}
	cfg := &ssh.ServerConfig{
		PublicKeyCallback: func(meta ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
			if meta.User() == user && bytes.Equal(key.Marshal(), authorized.Marshal()) {
				return nil, nil
			}
			return nil, fmt.Errorf("key %s of %s not authorized", ssh.FingerprintSHA256(key), meta.User())
		},
	}
	cfg.AddHostKey(hostKey)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	srv.addr = ln.Addr().String()
	serve := func(conn net.Conn) {
		defer conn.Close()
		sc, chans, reqs, err := ssh.NewServerConn(conn, cfg)
		if err != nil {
			return // refused: wrong key, or the client refused our host key
		}
		defer sc.Close()
		srv.logins.Add(1)
		go ssh.DiscardRequests(reqs)
		for nc := range chans {
			if nc.ChannelType() != "session" {
				_ = nc.Reject(ssh.UnknownChannelType, "session only")
				continue
			}
			ch, creqs, err := nc.Accept()
			if err != nil {
				return
			}
			go func() {
				defer ch.Close()
				for req := range creqs {
					if req.Type != "exec" {
						_ = req.Reply(req.Type == "env", nil)
						continue
					}
					var payload struct{ Command string }
					if ssh.Unmarshal(req.Payload, &payload) != nil {
						_ = req.Reply(false, nil)
						return
					}
					path, ok := strings.CutPrefix(payload.Command, "git-upload-pack '")
					path, ok2 := strings.CutSuffix(path, "'")
					if !ok || !ok2 || strings.Contains(path, "'") {
						_ = req.Reply(false, nil)
						return
					}
					_ = req.Reply(true, nil)
					cmd := exec.Command(uploadPack, filepath.Join(root, filepath.Clean("/"+path)))
					cmd.Stdout, cmd.Stderr = ch, ch.Stderr()
					stdin, err := cmd.StdinPipe()
					if err == nil {
						err = cmd.Start()
					}
					status := uint32(0)
					if err != nil {
						fmt.Fprintf(ch.Stderr(), "git-upload-pack: %v\n", err)
						status = 127
					} else {
						go func() { _, _ = io.Copy(stdin, ch); stdin.Close() }()
						if err := cmd.Wait(); err != nil {
							status = 1
							var ee *exec.ExitError
							if errors.As(err, &ee) {
								status = uint32(ee.ExitCode())
							}
						}
					}
					var b [4]byte
					binary.BigEndian.PutUint32(b[:], status)
					_, _ = ch.SendRequest("exit-status", false, b[:])
					return
				}
			}()
		}
	}
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go serve(conn)
		}
	}()
	return srv
}

// TestCloneWithSSHDeployKey: an ssh:// git URL is cloned with the SSH key
// of the app's organization for the URL's host (with or without port 22
// on either side), accepting only the host key the credential pins: the
// exact commit arrives. An organization without a credential, with a
// token credential, with a key the host does not authorize or pinning
// another host key is refused before or at the handshake, with a message
// naming the host and what to do, and no private key shows in any message.
func TestCloneWithSSHDeployKey(t *testing.T) {
	t.Parallel()
	hostKey, _ := sshKey(t)
	otherHostKey, _ := sshKey(t)
	deployKey, deployPEM := sshKey(t)
	_, wrongPEM := sshKey(t)

	// A repository of one commit on main, served bare under root.
	root, sha := t.TempDir(), ""
	{
		run := func(args ...string) string {
			t.Helper()
			cmd := exec.Command("git", args...)
			cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com",
				"GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.com", "GIT_CONFIG_GLOBAL=/dev/null")
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("git %v: %v\n%s", args, err, out)
			}
			return strings.TrimSpace(string(out))
		}
		work := filepath.Join(t.TempDir(), "work")
		run("init", "-q", "-b", "main", work)
		if err := os.WriteFile(filepath.Join(work, "Dockerfile"), []byte("FROM scratch\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		run("-C", work, "add", ".")
		run("-C", work, "commit", "-q", "-m", "first")
		sha = run("-C", work, "rev-parse", "HEAD")
		run("clone", "-q", "--bare", work, filepath.Join(root, "acme", "app.git"))
	}
	srv := startSSHGitServer(t, hostKey, "git", deployKey.PublicKey(), root)
	host := srv.addr // 127.0.0.1:port
	repo := "ssh://git@" + host + "/acme/app.git"

	f := newCredFixture(t, 9)
	ctx, newApp := f.ctx, f.newApp
	knownHosts := func(k ssh.PublicKey) string {
		return fmt.Sprintf("[127.0.0.1]:%d %s", srv.port(t), strings.TrimSpace(string(ssh.MarshalAuthorizedKey(k))))
	}
	setSSH := func(org uuid.UUID, credHost, privPEM, known string) {
		t.Helper()
		signer, err := ssh.ParsePrivateKey([]byte(privPEM))
		if err != nil {
			t.Fatal(err)
		}
		f.setCred(store.UpsertGitCredentialParams{OrganizationID: org, Host: credHost, Username: "git", Kind: "ssh",
			PublicKey: string(ssh.MarshalAuthorizedKey(signer.PublicKey())), KnownHosts: known}, privPEM)
	}
	acme, acmeApp := newApp("acme")
	_, initechApp := newApp("initech")
	globex, globexApp := newApp("globex")
	umbrella, umbrellaApp := newApp("umbrella")
	hooli, hooliApp := newApp("hooli")
	setSSH(acme, host, deployPEM, knownHosts(hostKey.PublicKey()))
	setSSH(globex, host, wrongPEM, knownHosts(hostKey.PublicKey()))
	setSSH(umbrella, host, deployPEM, knownHosts(otherHostKey.PublicKey()))
	f.setCred(store.UpsertGitCredentialParams{OrganizationID: hooli, Host: host, Username: "ci", Kind: "token"}, "a-t0ken")
	r := &Runner{Store: f.store, Box: f.box}
	secrets := []string{deployPEM, wrongPEM, strings.Split(deployPEM, "\n")[1], strings.Split(wrongPEM, "\n")[1], "a-t0ken"}
	noSecret := func(what string, err error) string {
		t.Helper()
		if err == nil {
			t.Fatalf("%s: no error", what)
		}
		for _, sec := range secrets {
			if strings.Contains(err.Error(), sec) {
				t.Fatalf("%s: the error shows a secret: %v", what, err)
			}
		}
		return err.Error()
	}

	// The organization's key and pinned host key: cloned at the commit.
	cred, err := r.gitAuth(ctx, acmeApp, repo)
	if err != nil || cred.auth == nil {
		t.Fatalf("acme's credential: %+v, %v", cred, err)
	}
	dir := t.TempDir()
	got, err := clone(ctx, repo, "main", dir, cred)
	if err != nil || got != sha {
		t.Fatalf("clone with the deploy key: %s, %v (want %s)", got, err, sha)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "Dockerfile")); err != nil || string(b) != "FROM scratch\n" {
		t.Fatalf("checkout: %q, %v", b, err)
	}
	logins := srv.logins.Load()
	if logins == 0 {
		t.Fatal("the server saw no login")
	}

	// No credential for the host: refused before dialling, naming the
	// host and the remedy.
	_, err = r.gitAuth(ctx, initechApp, repo)
	if msg := noSecret("no credential", err); !strings.Contains(msg, "no git credential for "+host) || !strings.Contains(msg, "paasctl git-credentials set "+host+" --ssh-key") {
		t.Fatalf("no credential: %s", msg)
	}
	// A token credential for the host does not serve ssh:// URLs.
	_, err = r.gitAuth(ctx, hooliApp, repo)
	if msg := noSecret("token credential", err); !strings.Contains(msg, "is a token") || !strings.Contains(msg, "--ssh-key") {
		t.Fatalf("token credential: %s", msg)
	}
	// A key the host does not authorize: refused, saying which key.
	cred, err = r.gitAuth(ctx, globexApp, repo)
	if err != nil {
		t.Fatal(err)
	}
	_, err = clone(ctx, repo, "main", t.TempDir(), cred)
	wrongSigner, _ := ssh.ParsePrivateKey([]byte(wrongPEM))
	if msg := noSecret("wrong key", err); !strings.Contains(msg, "refused the SSH key of the git credential for "+host) ||
		!strings.Contains(msg, ssh.FingerprintSHA256(wrongSigner.PublicKey())) {
		t.Fatalf("wrong key: %s", msg)
	}
	// The host presents a key other than the pinned one: refused before
	// authenticating (the server sees no login), naming both fingerprints.
	cred, err = r.gitAuth(ctx, umbrellaApp, repo)
	if err != nil {
		t.Fatal(err)
	}
	_, err = clone(ctx, repo, "main", t.TempDir(), cred)
	if msg := noSecret("host key mismatch", err); !errors.Is(err, errHostKeyMismatch) || !strings.Contains(msg, "host key mismatch") ||
		!strings.Contains(msg, ssh.FingerprintSHA256(hostKey.PublicKey())) || !strings.Contains(msg, ssh.FingerprintSHA256(otherHostKey.PublicKey())) {
		t.Fatalf("host key mismatch: %s", msg)
	}
	if n := srv.logins.Load(); n != logins {
		t.Fatalf("logins %d after a refused host key, want %d", n, logins)
	}

	// A credential stored for the host without port 22 serves a URL
	// naming port 22, and one stored with :22 a URL without a port: the
	// host key callback and key are what the credential says.
	for _, c := range []struct{ credHost, url string }{
		{"git.example.com", "ssh://git@git.example.com:22/acme/app.git"},
		{"git.example.com:22", "ssh://git.example.com/acme/app.git"},
	} {
		org, app := newApp("p" + strings.NewReplacer(".", "", ":", "").Replace(c.credHost))
		setSSH(org, c.credHost, deployPEM, "git.example.com "+strings.TrimSpace(string(ssh.MarshalAuthorizedKey(hostKey.PublicKey()))))
		cred, err := r.gitAuth(ctx, app, c.url)
		if err != nil || cred.auth == nil || cred.host != c.credHost {
			t.Fatalf("%s for %s: %+v, %v", c.credHost, c.url, cred, err)
		}
	}
	// An SSH key does not serve an http(s) URL of its host: the clone goes
	// without a credential.
	if cred, err := r.gitAuth(ctx, acmeApp, "http://"+host+"/acme/app.git"); err != nil || cred.auth != nil || cred.kind != "ssh" {
		t.Fatalf("http URL of an ssh credential's host: %+v, %v", cred, err)
	}
}

func (s *sshGitServer) port(t *testing.T) int {
	t.Helper()
	_, p, err := net.SplitHostPort(s.addr)
	if err != nil {
		t.Fatal(err)
	}
	var n int
	fmt.Sscan(p, &n)
	return n
}
