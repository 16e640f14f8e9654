package v1

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/skypanel/paas/api/openapi"
	"github.com/skypanel/paas/api/problem"
	"github.com/skypanel/paas/store"
	"github.com/skypanel/paas/store/secret"
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
			return openapi.GitCredential{Host: r.Host, Username: r.Username, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt}, nil
		},
		func(r store.ListGitCredentialsRow) string { return r.Host })
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, openapi.GitCredentialList{Items: items, NextCursor: next})
}

// PutGitCredential sets the organization's credential for a git host; the
// token is sealed and never answered.
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
	var errs []problem.FieldError
	if req.Username == "" || len(req.Username) > 255 || !validText(req.Username) || strings.ContainsAny(req.Username, ":\t") {
		errs = append(errs, fe("username", "is required: 1 to 255 characters of text without ':'"))
	}
	// The token is never echoed back in a message, not even in part.
	if req.Token == "" || len(req.Token) > maxGitTokenBytes || !validText(req.Token) {
		errs = append(errs, fe("token", fmt.Sprintf("is required: 1 to %d bytes of text", maxGitTokenBytes)))
	}
	if len(errs) > 0 {
		return problem.Invalid(errs...)
	}
	o, p := org(c), caller(c)
	sealed, err := s.Box.Seal([]byte(req.Token), secret.GitCredentialAD(o.ID, h))
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	var row store.UpsertGitCredentialRow
	err = s.Store.InTx(ctx, func(q *store.Queries) error {
		if row, err = q.UpsertGitCredential(ctx, store.UpsertGitCredentialParams{OrganizationID: o.ID, Host: h,
			Username: req.Username, TokenEncrypted: sealed}); err != nil {
			return err
		}
		return audit(ctx, q, p, "git_credential.set", "git_credential", h, o.ID, map[string]any{"username": req.Username})
	})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, openapi.GitCredential{Host: row.Host, Username: row.Username, CreatedAt: row.CreatedAt, UpdatedAt: row.UpdatedAt})
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
