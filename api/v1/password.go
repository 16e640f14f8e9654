package v1

import (
	"net/http"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/skypanel/paas/api/openapi"
	"github.com/skypanel/paas/api/problem"
	"github.com/skypanel/paas/store"
)

type changePasswordRequest struct {
	CurrentPassword *string `json:"current_password"`
	NewPassword     *string `json:"new_password"`
}

// ChangePassword sets the caller's password once the current one is
// proved, ends every other session and API token of the caller, and
// answers a new login token. Guesses of the current password are limited
// as logins are: a stolen token must not become a way to find it.
func (s *server) ChangePassword(c echo.Context) error {
	var req changePasswordRequest
	if err := readJSON(c, &req); err != nil {
		return err
	}
	var errs []problem.FieldError
	if req.CurrentPassword == nil || *req.CurrentPassword == "" {
		errs = append(errs, fe("current_password", "is required"))
	}
	if req.NewPassword == nil || len(*req.NewPassword) < 8 || len(*req.NewPassword) > 72 {
		errs = append(errs, fe("new_password", "must be 8 to 72 bytes"))
	}
	if len(errs) > 0 {
		return problem.Invalid(errs...)
	}
	p := caller(c)
	ctx := c.Request().Context()
	addr := clientAddr(c.Request(), s.TrustedProxies)
	if err := s.logins.allow(ctx, addr, p.Email); err != nil {
		return err
	}
	u, err := s.Store.GetUser(ctx, p.UserID)
	if err != nil {
		return err
	}
	if len(*req.CurrentPassword) > 72 || !store.CheckPassword(u.PasswordHash, *req.CurrentPassword) {
		return problem.Invalid(fe("current_password", "is not your current password"))
	}
	if err := s.logins.succeeded(ctx, addr, p.Email); err != nil {
		return err
	}
	hash, err := store.HashPassword(*req.NewPassword)
	if err != nil {
		return err
	}
	epoch, err := s.setPassword(c, p, u.PasswordHash, hash)
	if err != nil {
		return err
	}
	token, exp, err := s.issueJWT(p.UserID, epoch)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, openapi.LoginToken{Token: token, TokenType: openapi.Bearer, ExpiresAt: exp.UTC()})
}

// setPassword replaces oldHash by newHash in one transaction that also
// revokes every API token of the caller but the one making the request,
// and answers the new session epoch (every earlier login token has ended).
func (s *server) setPassword(c echo.Context, p *principal, oldHash, newHash string) (int64, error) {
	ctx := c.Request().Context()
	keep := uuid.Nil
	if p.Method == "api_token" {
		keep = p.TokenID
	}
	var epoch int64
	err := s.Store.InTx(ctx, func(q *store.Queries) error {
		var err error
		epoch, err = q.APISetPassword(ctx, store.APISetPasswordParams{ID: p.UserID, OldHash: oldHash, NewHash: newHash})
		if store.IsNotFound(err) {
			return problem.Conflict("the password changed while this request was checked; try again")
		}
		if err != nil {
			return err
		}
		revoked, err := q.APIRevokeOtherTokens(ctx, store.APIRevokeOtherTokensParams{UserID: p.UserID, Keep: keep})
		if err != nil {
			return err
		}
		return audit(ctx, q, p, "user.password", "user", p.UserID.String(), uuid.Nil, map[string]any{"revoked_tokens": revoked})
	})
	return epoch, err
}
