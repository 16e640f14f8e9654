package v1

import (
	"net/http"
	"strings"
	"sync"

	"github.com/labstack/echo/v4"

	"github.com/skypanel/paas/api/openapi"
	"github.com/skypanel/paas/api/problem"
	"github.com/skypanel/paas/store"
)

// dummyHash is compared against when the email is unknown, so a login for
// an unknown email takes as long as one with a wrong password.
var dummyHash = sync.OnceValue(func() string {
	h, _ := store.HashPassword("not the password of anyone")
	return h
})

type loginRequest struct {
	Email    string `json:"email"`
	Password string `json:"password"`
}

// Login exchanges email and password for a JWT.
func (s *server) Login(c echo.Context) error {
	var req loginRequest
	if err := readJSON(c, &req); err != nil {
		return err
	}
	email := strings.ToLower(strings.TrimSpace(req.Email))
	var errs []problem.FieldError
	if email == "" || len(email) > 254 || !validText(email) {
		errs = append(errs, problem.FieldError{Field: "email", Message: "is required: an email address"})
	}
	if req.Password == "" {
		errs = append(errs, problem.FieldError{Field: "password", Message: "is required"})
	}
	if len(errs) > 0 {
		return problem.Invalid(errs...)
	}
	ctx := c.Request().Context()
	addr := clientAddr(c.Request(), s.TrustedProxies)
	if err := s.logins.allow(ctx, addr, email); err != nil {
		return err
	}
	user, err := s.checkPassword(c, email, req.Password)
	if err != nil {
		return err
	}
	if err := s.logins.succeeded(ctx, addr, email); err != nil {
		return err
	}
	token, exp, err := s.issueJWT(user.ID, user.SessionEpoch)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, openapi.LoginToken{Token: token, TokenType: openapi.Bearer, ExpiresAt: exp.UTC()})
}

// checkPassword returns the user whose email and password these are. A
// wrong password and an unknown email answer the same 401 after the same
// bcrypt work, so the answer does not tell which emails exist; a disabled
// user is told so only once its password proved right.
func (s *server) checkPassword(c echo.Context, email, password string) (store.User, error) {
	user, err := s.Store.GetUserByEmail(c.Request().Context(), email)
	if err != nil && !store.IsNotFound(err) {
		return user, err
	}
	if err != nil || len(password) > 72 {
		store.CheckPassword(dummyHash(), password)
		return user, problem.Unauthorized("wrong email or password")
	}
	if !store.CheckPassword(user.PasswordHash, password) {
		return user, problem.Unauthorized("wrong email or password")
	}
	if user.DisabledAt != nil {
		return user, disabledProblem()
	}
	return user, nil
}

// disabledProblem is the 401 of a disabled user's credentials.
func disabledProblem() *problem.Problem {
	return problem.Unauthorized("this account is disabled: ask a platform administrator")
}
