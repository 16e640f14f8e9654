package v1

import (
	"net/http"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/skypanel/paas/api/openapi"
)

// GetMe describes the caller.
func (s *server) GetMe(c echo.Context) error {
	p := caller(c)
	ctx := c.Request().Context()
	u, err := s.Store.GetUser(ctx, p.UserID)
	if err != nil {
		return err
	}
	orgs, err := s.Store.ListUserOrganizations(ctx, p.UserID)
	if err != nil {
		return err
	}
	out := openapi.Me{User: userOut(u.ID, u.Email, u.Name, u.IsAdmin, u.DisabledAt != nil, u.CreatedAt), AuthMethod: openapi.MeAuthMethod(p.Method),
		Organizations: make([]openapi.MembershipSummary, 0, len(orgs))}
	for _, o := range orgs {
		out.Organizations = append(out.Organizations, openapi.MembershipSummary{
			Id: o.ID, Name: o.Name, Slug: o.Slug, Role: openapi.Role(o.Role), Suspended: o.Suspended})
	}
	return c.JSON(http.StatusOK, out)
}

func userOut(id uuid.UUID, email, name string, admin, disabled bool, created time.Time) openapi.User {
	return openapi.User{Id: id, Email: email, Name: name, IsAdmin: admin, Disabled: disabled, CreatedAt: created}
}
