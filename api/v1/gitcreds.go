package v1

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"golang.org/x/crypto/ssh"

	"github.com/skypanel/paas/api/openapi"
	"github.com/skypanel/paas/api/problem"
	"github.com/skypanel/paas/store"
	"github.com/skypanel/paas/store/secret"
	"github.com/skypanel/paas/store/spec"
)

// maxGitTokenBytes bounds a git credential's token (and username).
const maxGitTokenBytes = 4096

// gitHost checks and normalizes a git host as a URL names it: a host name
// or address, with an optional port, lower case; no scheme, user or path.
func gitHost(raw string) (string, error) {
	h := strings.ToLower(strings.TrimSpace(raw))
	u, err := url.Parse("//" + h)
	if h == "" || len(h) > 255 || err != nil || u.Host != h || u.User != nil || u.Path != "" || u.Hostname() == "" ||
		strings.ContainsAny(h, "/@?# ") {
		return "", problem.Invalid(fe("host", "must be a git host as in its URL: git.example.com or git.example.com:8443"))
	}
	return h, nil
}

// requireOwner refuses a change of the organization's git credentials to a
// caller who is not one of its owners: a credential reaches every
// repository its token does, beyond the organization's apps.
func requireOwner(c echo.Context) error {
	if o := org(c); o.Role != roleOwner {
		return problem.Forbidden(fmt.Sprintf("you are a %s of organization %q: only owners set or remove git credentials", o.Role, o.Slug))
	}
	return nil
}

// ListGitCredentials answers the organization's git hosts and usernames.
func (s *server) ListGitCredentials(c echo.Context, params openapi.ListGitCredentialsParams) error {
	limit, err := pageLimit(params.Limit)
	if err != nil {
		return err
	}
	after, err := decodeCursor(params.Cursor)
	if err != nil {
		return err
	}
	rows, err := s.Store.ListGitCredentials(c.Request().Context(), store.ListGitCredentialsParams{
		OrganizationID: org(c).ID, AfterHost: after, Lim: int32(limit + 1)})
	if err != nil {
		return err
	}
	items, next, err := page(rows, limit,
		func(r store.ListGitCredentialsRow) (openapi.GitCredential, error) {
			return gitCredentialOut(r.Host, r.Username, r.Kind, r.PublicKey, r.KnownHosts, r.CreatedAt, r.UpdatedAt), nil
		},
		func(r store.ListGitCredentialsRow) string { return r.Host })
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, openapi.GitCredentialList{Items: items, NextCursor: next})
}

// gitCredentialOut is a credential as answered: never its token or
// private key; an SSH key's public half and the fingerprints of the host
// keys it pins.
func gitCredentialOut(host, username, kind, publicKey, knownHosts string, created, updated time.Time) openapi.GitCredential {
	out := openapi.GitCredential{Host: host, Username: username, Kind: openapi.GitCredentialKind(kind), CreatedAt: created, UpdatedAt: updated}
	if kind == gitKindSSH {
		out.PublicKey = &publicKey
		fps := []string{}
		if keys, err := spec.PinnedHostKeys(host, knownHosts); err == nil {
			fps = spec.HostKeyFingerprints(keys)
		}
		out.HostKeyFingerprints = &fps
	}
	return out
}

// Kinds of git credential.
const (
	gitKindToken = "token"
	gitKindSSH   = "ssh"
)

// gitSecret is a checked credential request: what is sealed (a token or
// an SSH private key) and what is stored beside it.
type gitSecret struct {
	kind, username, secret, publicKey, knownHosts string
}

// checkGitCredential validates a credential request for host h: either a
// token with its username, or an SSH private key (no passphrase) with the
// host keys to pin. No message quotes the token or the key.
func checkGitCredential(h string, req openapi.GitCredentialRequest) (gitSecret, error) {
	str := func(p *string) string {
		if p == nil {
			return ""
		}
		return *p
	}
	g := gitSecret{username: str(req.Username)}
	isSSH := req.SshPrivateKey != nil || req.KnownHosts != nil
	var errs []problem.FieldError
	if isSSH && req.Token != nil {
		return g, problem.Invalid(fe("token", "give either a token (for http(s) URLs) or an ssh_private_key with known_hosts (for ssh:// URLs), not both"))
	}
	if isSSH {
		g.kind = gitKindSSH
		if g.username == "" && req.Username == nil {
			g.username = "git"
		}
	} else {
		g.kind = gitKindToken
	}
	if g.username == "" || len(g.username) > 255 || !validText(g.username) || strings.ContainsAny(g.username, ":\t") {
		errs = append(errs, fe("username", "is required: 1 to 255 characters of text without ':'"))
	} else if g.kind == gitKindSSH && strings.ContainsAny(g.username, "@ /") {
		errs = append(errs, fe("username", "is an SSH user name (default git): no '@', '/' or spaces"))
	}
	if g.kind == gitKindToken {
		// The token is never echoed back in a message, not even in part.
		if t := str(req.Token); t == "" || len(t) > maxGitTokenBytes || !validText(t) {
			errs = append(errs, fe("token", fmt.Sprintf("is required (or ssh_private_key and known_hosts for ssh:// URLs): 1 to %d bytes of text", maxGitTokenBytes)))
		} else {
			g.secret = t
		}
	} else {
		if signer, err := spec.ParseDeployKey(str(req.SshPrivateKey)); err != nil {
			errs = append(errs, fe("ssh_private_key", err.Error()))
		} else {
			g.secret = str(req.SshPrivateKey)
			g.publicKey = strings.TrimSpace(string(ssh.MarshalAuthorizedKey(signer.PublicKey())))
		}
		kh := str(req.KnownHosts)
		if !validText(strings.ReplaceAll(strings.ReplaceAll(kh, "\r", ""), "\n", "")) {
			errs = append(errs, fe("known_hosts", "must be text: public key lines"))
		} else if _, err := spec.PinnedHostKeys(h, kh); err != nil {
			errs = append(errs, fe("known_hosts", err.Error()))
		} else {
			g.knownHosts = strings.TrimSpace(strings.ReplaceAll(kh, "\r", "")) + "\n"
		}
	}
	if len(errs) > 0 {
		return g, problem.Invalid(errs...)
	}
	return g, nil
}

// PutGitCredential sets the organization's credential for a git host: a
// token, or an SSH key with the host keys it pins. The token or private
// key is sealed and never answered.
func (s *server) PutGitCredential(c echo.Context, host openapi.GitHostPath, _ openapi.PutGitCredentialParams) error {
	if err := requireOwner(c); err != nil {
		return err
	}
	var req openapi.GitCredentialRequest
	if err := readJSON(c, &req); err != nil {
		return err
	}
	h, err := gitHost(host)
	if err != nil {
		return err
	}
	g, err := checkGitCredential(h, req)
	if err != nil {
		return err
	}
	o, p := org(c), caller(c)
	sealed, err := s.Box.Seal([]byte(g.secret), secret.GitCredentialAD(o.ID, h))
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	var row store.UpsertGitCredentialRow
	err = s.Store.InTx(ctx, func(q *store.Queries) error {
		if row, err = q.UpsertGitCredential(ctx, store.UpsertGitCredentialParams{OrganizationID: o.ID, Host: h,
			Username: g.username, TokenEncrypted: sealed, Kind: g.kind, PublicKey: g.publicKey, KnownHosts: g.knownHosts}); err != nil {
			return err
		}
		details := map[string]any{"username": g.username, "kind": g.kind}
		if g.kind == gitKindSSH {
			// Public halves only: the deploy key's, and the pinned host keys' fingerprints.
			keys, _ := spec.PinnedHostKeys(h, g.knownHosts)
			details["public_key"] = g.publicKey
			details["host_key_fingerprints"] = spec.HostKeyFingerprints(keys)
		}
		return audit(ctx, q, p, "git_credential.set", "git_credential", h, o.ID, details)
	})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, gitCredentialOut(row.Host, row.Username, row.Kind, row.PublicKey, row.KnownHosts, row.CreatedAt, row.UpdatedAt))
}

// DeleteGitCredential removes the organization's credential for a git host.
func (s *server) DeleteGitCredential(c echo.Context, host openapi.GitHostPath, _ openapi.DeleteGitCredentialParams) error {
	if err := requireOwner(c); err != nil {
		return err
	}
	h, err := gitHost(host)
	if err != nil {
		return err
	}
	o, p := org(c), caller(c)
	ctx := c.Request().Context()
	err = s.Store.InTx(ctx, func(q *store.Queries) error {
		n, err := q.DeleteGitCredential(ctx, store.DeleteGitCredentialParams{OrganizationID: o.ID, Host: h})
		if err != nil {
			return err
		}
		if n == 0 {
			return problem.NotFound(fmt.Sprintf("organization %q has no git credential for %s", o.Slug, h))
		}
		return audit(ctx, q, p, "git_credential.remove", "git_credential", h, o.ID, nil)
	})
	if err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}
