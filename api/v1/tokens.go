package v1

import (
	"crypto/rand"
	"encoding/base32"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/skypanel/paas/api/openapi"
	"github.com/skypanel/paas/api/problem"
	"github.com/skypanel/paas/store"
)

// ListAPITokens answers a page of the caller's tokens, oldest first.
func (s *server) ListAPITokens(c echo.Context, params openapi.ListAPITokensParams) error {
	limit, err := pageLimit(params.Limit)
	if err != nil {
		return err
	}
	afterCreated, afterID, err := decodeTimeIDCursor(params.Cursor)
	if err != nil {
		return err
	}
	rows, err := s.Store.APIListAPITokens(c.Request().Context(), store.APIListAPITokensParams{
		UserID: caller(c).UserID, AfterCreated: afterCreated, AfterID: afterID, Lim: int32(limit + 1)})
	if err != nil {
		return err
	}
	items, next, err := page(rows, limit,
		func(t store.APIToken) (openapi.APIToken, error) {
			return openapi.APIToken{Id: t.ID, Name: t.Name, Prefix: t.Prefix,
				ExpiresAt: t.ExpiresAt, LastUsedAt: t.LastUsedAt, CreatedAt: t.CreatedAt}, nil
		},
		func(t store.APIToken) string { return timeIDKey(t.CreatedAt, t.ID) })
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, openapi.APITokenList{Items: items, NextCursor: next})
}

type createTokenRequest struct {
	Name          string `json:"name"`
	ExpiresInDays *int64 `json:"expires_in_days"`
}

var tokenEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// CreateAPIToken makes a personal API token and shows its text once.
func (s *server) CreateAPIToken(c echo.Context) error {
	var req createTokenRequest
	if err := readJSON(c, &req); err != nil {
		return err
	}
	var errs []problem.FieldError
	name := strings.TrimSpace(req.Name)
	if name == "" || len(name) > 64 || !validText(name) {
		errs = append(errs, problem.FieldError{Field: "name", Message: "must be 1 to 64 characters"})
	}
	p := caller(c)
	var expires *time.Time
	if req.ExpiresInDays != nil {
		if *req.ExpiresInDays < 1 || *req.ExpiresInDays > 3650 {
			errs = append(errs, problem.FieldError{Field: "expires_in_days", Message: "must be between 1 and 3650"})
		} else {
			t := s.Now().Add(time.Duration(*req.ExpiresInDays) * 24 * time.Hour).UTC()
			expires = &t
		}
	}
	if e, ok := outlives(p, expires, s.Now()); ok && len(errs) == 0 {
		errs = append(errs, e)
	}
	if len(errs) > 0 {
		return problem.Invalid(errs...)
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return err
	}
	token := apiTokenPrefix + strings.ToLower(tokenEncoding.EncodeToString(raw))
	ctx := c.Request().Context()
	var t store.APIToken
	err := s.Store.InTx(ctx, func(q *store.Queries) error {
		var err error
		t, err = q.CreateAPIToken(ctx, store.CreateAPITokenParams{UserID: p.UserID, Name: name,
			TokenHash: hashToken(token), Prefix: token[:len(apiTokenPrefix)+8], ExpiresAt: expires})
		if err != nil {
			return err
		}
		return audit(ctx, q, p, "token.create", "api_token", t.ID.String(), uuid.Nil, map[string]any{"name": name})
	})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, openapi.CreatedAPIToken{Id: t.ID, Name: t.Name, Prefix: t.Prefix,
		ExpiresAt: t.ExpiresAt, LastUsedAt: t.LastUsedAt, CreatedAt: t.CreatedAt, Token: token})
}

// outlives reports the field error when a token expiring at expires (nil:
// never) would outlive the API token p calls with: a token must not be a
// way to extend a credential past its end, so a stolen short-lived token
// cannot mint a lasting one. A login (the password proved) or an API
// token without expiry may create any.
func outlives(p *principal, expires *time.Time, now time.Time) (problem.FieldError, bool) {
	limit := p.TokenExpires
	if p.Method != "api_token" || limit == nil || (expires != nil && !expires.After(*limit)) {
		return problem.FieldError{}, false
	}
	days := int(limit.Sub(now) / (24 * time.Hour))
	why := fmt.Sprintf("the API token making this request expires at %s and may not create one that outlives it", limit.UTC().Format(time.RFC3339))
	if days < 1 {
		return fe("expires_in_days", why+": it expires within a day, so it can create none"), true
	}
	return fe("expires_in_days", fmt.Sprintf("must be at most %d: %s", days, why)), true
}

// DeleteAPIToken revokes one of the caller's tokens.
func (s *server) DeleteAPIToken(c echo.Context, tokenID openapi.TokenIDPath) error {
	p := caller(c)
	ctx := c.Request().Context()
	err := s.Store.InTx(ctx, func(q *store.Queries) error {
		n, err := q.DeleteAPIToken(ctx, store.DeleteAPITokenParams{ID: tokenID, UserID: p.UserID})
		if err != nil {
			return err
		}
		if n == 0 {
			return problem.NotFound("no such API token")
		}
		return audit(ctx, q, p, "token.delete", "api_token", tokenID.String(), uuid.Nil, nil)
	})
	if err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}
