package build

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	"github.com/google/uuid"

	"github.com/skypanel/paas/store"
	"github.com/skypanel/paas/store/secret"
)

// gitCredential is the credential a clone uses, if any: auth for go-git,
// and what must never be shown (the token, and any password the URL
// itself carries).
type gitCredential struct {
	host    string
	auth    transport.AuthMethod // nil: none
	secrets []string
}

// gitAuth picks the credential of app's organization whose host is the
// git URL's host (http and https URLs only; the host's default port may be
// left out on either side) and opens its token.
func (r *Runner) gitAuth(ctx context.Context, app uuid.UUID, rawURL string) (gitCredential, error) {
	var cred gitCredential
	u, err := url.Parse(rawURL)
	if err != nil {
		return cred, errors.New("the git URL does not parse") // never the URL: it may hold a password
	}
	if p, ok := u.User.Password(); ok && p != "" {
		cred.secrets = append(cred.secrets, p)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return cred, nil
	}
	hosts := []string{strings.ToLower(u.Host)}
	if port := u.Port(); port == "" {
		hosts = append(hosts, strings.ToLower(u.Hostname())+map[string]string{"http": ":80", "https": ":443"}[u.Scheme])
	} else if (u.Scheme == "https" && port == "443") || (u.Scheme == "http" && port == "80") {
		hosts = append(hosts, strings.ToLower(u.Hostname()))
	}
	for _, h := range hosts {
		c, err := r.Store.GetAppGitCredential(ctx, store.GetAppGitCredentialParams{AppID: app, Host: h})
		if store.IsNotFound(err) {
			continue
		}
		if err != nil {
			return cred, fmt.Errorf("read the git credential for %s: %w", h, err)
		}
		if r.Box == nil {
			return cred, fmt.Errorf("the git credential for %s cannot be opened: the build runner has no encryption key", h)
		}
		token, err := r.Box.Open(c.TokenEncrypted, secret.GitCredentialAD(c.OrganizationID, c.Host))
		if err != nil {
			return cred, fmt.Errorf("open the git credential for %s: %w", h, err)
		}
		cred.host = c.Host
		cred.auth = &githttp.BasicAuth{Username: c.Username, Password: string(token)}
		cred.secrets = append(cred.secrets, string(token))
		return cred, nil
	}
	cred.host = strings.ToLower(u.Host)
	return cred, nil
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
	case errors.Is(err, transport.ErrAuthenticationRequired) && cred.auth == nil && cred.host != "":
		err = fmt.Errorf("clone %s: %w: the organization has no git credential for %s (paasctl git-credentials set %s)", shown, err, cred.host, cred.host)
	case (errors.Is(err, transport.ErrAuthenticationRequired) || errors.Is(err, transport.ErrAuthorizationFailed)) && cred.auth != nil:
		err = fmt.Errorf("clone %s: %w: the git credential for %s was refused", shown, err, cred.host)
	default:
		err = fmt.Errorf("clone %s: %w", shown, err)
	}
	return scrub(err, rawURL, cred.secrets)
}
