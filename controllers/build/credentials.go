package build

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	gitssh "github.com/go-git/go-git/v5/plumbing/transport/ssh"
	"github.com/google/uuid"
	"golang.org/x/crypto/ssh"

	"github.com/skypanel/paas/store"
	"github.com/skypanel/paas/store/secret"
	"github.com/skypanel/paas/store/spec"
)

// gitCredential is the credential a clone uses, if any: auth for go-git,
// and what must never be shown (the token or private key, and any
// password the URL itself carries).
type gitCredential struct {
	host    string
	auth    transport.AuthMethod // nil: none
	secrets []string
	kind    string // of the credential found for host, even when unused: token or ssh
	keyFP   string // ssh: the SHA256 fingerprint of the deploy key's public half
}

func init() {
	// Clones as a tenant's deploy key go where the URL says: never where
	// the paasd user's ~/.ssh/config (or /etc/ssh/ssh_config) would send
	// that host name.
	gitssh.DefaultSSHConfig = nil
}

// errHostKeyMismatch: an SSH git host presented a key its credential does not pin.
var errHostKeyMismatch = errors.New("host key mismatch")

// gitAuth picks the credential of app's organization whose host is the
// git URL's host and opens its secret: for http and https URLs a token
// (the host's default port may be left out on either side), for ssh://
// URLs an SSH key (port 22 likewise), which a clone needs: an ssh:// URL
// without one is refused here, naming the host and the remedy.
func (r *Runner) gitAuth(ctx context.Context, app uuid.UUID, rawURL string) (gitCredential, error) {
	var cred gitCredential
	u, err := url.Parse(rawURL)
	if err != nil {
		return cred, errors.New("the git URL does not parse") // never the URL: it may hold a password
	}
	if p, ok := u.User.Password(); ok && p != "" {
		cred.secrets = append(cred.secrets, p)
	}
	defaultPort := map[string]string{"http": "80", "https": "443", "ssh": "22"}[u.Scheme]
	if defaultPort == "" {
		return cred, nil
	}
	hosts := []string{strings.ToLower(u.Host)}
	if port := u.Port(); port == "" {
		hosts = append(hosts, net.JoinHostPort(strings.ToLower(u.Hostname()), defaultPort))
	} else if port == defaultPort {
		hosts = append(hosts, strings.ToLower(u.Hostname()))
	}
	cred.host = strings.ToLower(u.Host)
	for _, h := range hosts {
		c, err := r.Store.GetAppGitCredential(ctx, store.GetAppGitCredentialParams{AppID: app, Host: h})
		if store.IsNotFound(err) {
			continue
		}
		if err != nil {
			return cred, fmt.Errorf("read the git credential for %s: %w", h, err)
		}
		cred.host, cred.kind = c.Host, c.Kind
		if wantSSH := u.Scheme == "ssh"; wantSSH != (c.Kind == "ssh") {
			if wantSSH {
				return cred, fmt.Errorf("clone %s: the organization's git credential for %s is a token, which serves http(s) URLs: an ssh:// URL needs an SSH deploy key (paasctl git-credentials set %s --ssh-key FILE --known-hosts FILE)",
					redactURL(rawURL), c.Host, c.Host)
			}
			return cred, nil // an SSH key serves ssh:// URLs only; an http(s) clone goes without (public repositories)
		}
		if r.Box == nil {
			return cred, fmt.Errorf("the git credential for %s cannot be opened: the build runner has no encryption key", h)
		}
		sealed, err := r.Box.Open(c.TokenEncrypted, secret.GitCredentialAD(c.OrganizationID, c.Host))
		if err != nil {
			return cred, fmt.Errorf("open the git credential for %s: %w", h, err)
		}
		cred.secrets = append(cred.secrets, string(sealed), strings.TrimSpace(string(sealed)))
		if c.Kind != "ssh" {
			cred.auth = &githttp.BasicAuth{Username: c.Username, Password: string(sealed)}
			return cred, nil
		}
		signer, err := spec.ParseDeployKey(string(sealed))
		if err != nil {
			return cred, fmt.Errorf("the SSH key of the git credential for %s %w", h, err)
		}
		pinned, err := spec.PinnedHostKeys(c.Host, c.KnownHosts)
		if err != nil {
			return cred, fmt.Errorf("the known_hosts of the git credential for %s %w", h, err)
		}
		cred.keyFP = ssh.FingerprintSHA256(signer.PublicKey())
		cred.auth = sshKeyAuth{&gitssh.PublicKeys{User: c.Username, Signer: signer, HostKeyCallbackHelper: gitssh.HostKeyCallbackHelper{
			HostKeyCallback: pinnedHostKeys(c.Host, pinned), HostKeyAlgorithms: hostKeyAlgorithms(pinned)}}}
		return cred, nil
	}
	if u.Scheme == "ssh" {
		return cred, fmt.Errorf("clone %s: the organization has no git credential for %s: an ssh:// URL needs an SSH deploy key and the host's pinned key (paasctl git-credentials set %s --ssh-key FILE --known-hosts FILE)",
			redactURL(rawURL), cred.host, cred.host)
	}
	return cred, nil
}

// sshDialTimeout bounds connecting to an SSH git host: go-git dials
// without the clone's context.
const sshDialTimeout = 30 * time.Second

// sshKeyAuth is a deploy key's go-git auth whose connection attempt gives
// up after sshDialTimeout.
type sshKeyAuth struct{ *gitssh.PublicKeys }

func (a sshKeyAuth) ClientConfig() (*ssh.ClientConfig, error) {
	c, err := a.PublicKeys.ClientConfig()
	if c != nil {
		c.Timeout = sshDialTimeout
	}
	return c, err
}

// pinnedHostKeys accepts an SSH host only when it presents one of the
// keys pinned for it; anything else is errHostKeyMismatch, naming the key
// presented and the keys pinned by fingerprint.
func pinnedHostKeys(host string, pinned []ssh.PublicKey) ssh.HostKeyCallback {
	return func(_ string, _ net.Addr, key ssh.PublicKey) error {
		for _, k := range pinned {
			if bytes.Equal(k.Marshal(), key.Marshal()) {
				return nil
			}
		}
		return fmt.Errorf("%w: %s presented %s key %s, which the organization's git credential does not pin (it pins %s); if the host's key really changed, set the credential again with the new one (ssh-keyscan)",
			errHostKeyMismatch, host, key.Type(), ssh.FingerprintSHA256(key), strings.Join(spec.HostKeyFingerprints(pinned), ", "))
	}
}

// hostKeyAlgorithms are the host key algorithms a client offers to get one
// of the pinned keys (a server with several keys then shows a pinned one).
func hostKeyAlgorithms(pinned []ssh.PublicKey) []string {
	var algos []string
	seen := map[string]bool{}
	for _, k := range pinned {
		names := []string{k.Type()}
		if k.Type() == ssh.KeyAlgoRSA {
			names = []string{ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256, ssh.KeyAlgoRSA}
		}
		for _, n := range names {
			if !seen[n] {
				seen[n] = true
				algos = append(algos, n)
			}
		}
	}
	return algos
}

// redactURL is a git URL fit for logs and messages: without any password
// it holds (the user name stays, so a wrong one can be seen).
func redactURL(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "(a git URL that does not parse)"
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	return u.Redacted()
}

// scrubbed is an error whose text had secrets cut out of it.
type scrubbed struct {
	msg string
	err error // the original: errors.Is still sees it; never printed
}

func (e *scrubbed) Error() string { return e.msg }
func (e *scrubbed) Unwrap() error { return e.err }

// scrub replaces the raw URL and every secret in err's text: go-git's
// errors may quote the URL it was given.
func scrub(err error, rawURL string, secrets []string) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	if rawURL != "" {
		msg = strings.ReplaceAll(msg, rawURL, redactURL(rawURL))
	}
	for _, s := range secrets {
		if s != "" {
			msg = strings.ReplaceAll(msg, s, "xxxxx")
			msg = strings.ReplaceAll(msg, url.QueryEscape(s), "xxxxx")
			msg = strings.ReplaceAll(msg, url.PathEscape(s), "xxxxx")
		}
	}
	return &scrubbed{msg: msg, err: err}
}

// cloneError says why a clone failed, with a hint when credentials are
// the likely cause; its text holds no secret.
func cloneError(err error, rawURL string, cred gitCredential) error {
	shown := redactURL(rawURL)
	switch {
	case errors.Is(err, transport.ErrAuthenticationRequired) && cred.auth == nil && cred.kind == "ssh":
		err = fmt.Errorf("clone %s: %w: the organization's git credential for %s is an SSH key, which serves ssh:// URLs only (use the repository's ssh:// URL, or set a token: paasctl git-credentials set %s --username USER)", shown, err, cred.host, cred.host)
	case errors.Is(err, transport.ErrAuthenticationRequired) && cred.auth == nil && cred.host != "":
		err = fmt.Errorf("clone %s: %w: the organization has no git credential for %s (paasctl git-credentials set %s)", shown, err, cred.host, cred.host)
	case (errors.Is(err, transport.ErrAuthenticationRequired) || errors.Is(err, transport.ErrAuthorizationFailed)) && cred.auth != nil:
		err = fmt.Errorf("clone %s: %w: the git credential for %s was refused", shown, err, cred.host)
	case errors.Is(err, errHostKeyMismatch):
		err = fmt.Errorf("clone %s: refused the host: %w", shown, err)
	case cred.kind == "ssh" && cred.auth != nil && strings.Contains(err.Error(), "unable to authenticate"):
		err = fmt.Errorf("clone %s: %w: the host refused the SSH key of the git credential for %s (%s): is its public key a deploy key of the repository?", shown, err, cred.host, cred.keyFP)
	default:
		err = fmt.Errorf("clone %s: %w", shown, err)
	}
	return scrub(err, rawURL, cred.secrets)
}
