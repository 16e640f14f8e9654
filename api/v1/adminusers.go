package v1

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/skypanel/paas/api/openapi"
	"github.com/skypanel/paas/api/problem"
	"github.com/skypanel/paas/store"
)

type patchUserRequest struct {
	Disabled *bool `json:"disabled"`
}

// AdminPatchUser disables or enables a user. A disabled user's
// credentials are refused from the next request on: every authentication
// query reads disabled_at, and the change announces itself to every
// replica's credential cache ('auth' on paas_api).
func (s *server) AdminPatchUser(c echo.Context, ident openapi.UserPath) error {
	var req patchUserRequest
	if err := readJSON(c, &req); err != nil {
		return err
	}
	if req.Disabled == nil {
		return problem.Invalid(fe("disabled", "is required"))
	}
	ctx := c.Request().Context()
	p := caller(c)
	var out store.APISetUserDisabledRow
	err := s.Store.InTx(ctx, func(q *store.Queries) error {
		u, err := findUser(ctx, q, ident)
		if err != nil {
			return err
		}
		if *req.Disabled && u.ID == p.UserID {
			// Nobody would be left to undo it if this is the last admin.
			return problem.Conflict("you cannot disable yourself: ask another administrator")
		}
		if out, err = q.APISetUserDisabled(ctx, store.APISetUserDisabledParams{ID: u.ID, Disabled: *req.Disabled}); err != nil {
			return err
		}
		action := "user.enable"
		if *req.Disabled {
			action = "user.disable"
		}
		return audit(ctx, q, p, action, "user", u.ID.String(), uuid.Nil, map[string]any{"email": u.Email})
	})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, userOut(out.ID, out.Email, out.Name, out.IsAdmin, out.Disabled, out.CreatedAt))
}

// findUser finds a user by id or email.
func findUser(ctx context.Context, q *store.Queries, ident string) (store.APIFindUserRow, error) {
	id, email := identOf(ident)
	u, err := q.APIFindUser(ctx, store.APIFindUserParams{ID: id, Email: strings.ToLower(strings.TrimSpace(email))})
	if store.IsNotFound(err) {
		return u, problem.NotFound(fmt.Sprintf("user %q not found", ident))
	}
	return u, err
}
