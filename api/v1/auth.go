package v1

import (
	"crypto/sha256"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/skypanel/paas/api/problem"
	"github.com/skypanel/paas/store"
)

const (
	// apiTokenPrefix starts every personal API token, so the API tells them
	// from JWTs without trying both.
	apiTokenPrefix = "paas_"
	jwtIssuer      = "paasd"
	jwtAudience    = "paas-api"
	// orgHeader names the organization of a /api/paas request.
	orgHeader = "X-Paas-Organization"
	// ctxPrincipal is the echo context key of the caller.
	ctxPrincipal = "paas.principal"
)

type scope int

const (
	scopeUser         scope = iota // any authenticated user
	scopeAdmin                     // a platform administrator
	scopeOrganization              // a member of the named organization
	scopeAppList                   // as scopeOrganization, with the apps fingerprint (GET /api/paas/apps)
)

// principal is the authenticated caller.
type principal struct {
	UserID  uuid.UUID
	Email   string
	Name    string
	IsAdmin bool
	// Method is "jwt" or "api_token".
	Method string
	// Org is the organization a /api/paas request acts in.
	Org *orgScope
	// SessionEpoch is the user's session epoch: login tokens carrying
	// another one have ended.
	SessionEpoch int64
	// TokenID and TokenExpires are the request's API token and its expiry
	// (nil: none), for api_token callers.
	TokenID      uuid.UUID
	TokenExpires *time.Time
	// appsFP is the fingerprint of Org's apps, read with the credentials
	// for GET /api/paas/apps when they were not cached, at appsRead.
	appsFP   *store.APIAppsFingerprintRow
	appsRead stamp
}

// orgScope is the organization a request acts in and the caller's role there.
type orgScope struct {
	ID        uuid.UUID
	Slug      string
	Name      string
	Suspended bool
	Role      string
}

func caller(c echo.Context) *principal {
	p, _ := c.Get(ctxPrincipal).(*principal)
	return p
}

// org is the organization of a /api/paas request (set by authenticate).
func org(c echo.Context) *orgScope { return caller(c).Org }

// authenticate checks the bearer token and, for scopeOrganization, resolves
// the organization in the same database round trip.
func (s *server) authenticate(sc scope) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			token, err := bearerToken(c.Request())
			if err != nil {
				return err
			}
			var p *principal
			if strings.HasPrefix(token, apiTokenPrefix) {
				p, err = s.authAPIToken(c, token, sc)
			} else {
				p, err = s.authJWT(c, token, sc)
			}
			if err != nil {
				return err
			}
			if sc == scopeAdmin && !p.IsAdmin {
				return problem.Forbidden("this route is for platform administrators")
			}
			c.Set(ctxPrincipal, p)
			return next(c)
		}
	}
}

func bearerToken(r *http.Request) (string, error) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return "", problem.Unauthorized("send Authorization: Bearer <token> (a login token or an API token)")
	}
	scheme, token, ok := strings.Cut(h, " ")
	token = strings.TrimSpace(token)
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
		return "", problem.Unauthorized("the Authorization header must be Bearer <token>")
	}
	return token, nil
}

// orgSelector is how the request names its organization: the header, else
// the org query parameter.
func orgSelector(c echo.Context) (string, error) {
	v := strings.TrimSpace(c.Request().Header.Get(orgHeader))
	if v == "" {
		v = strings.TrimSpace(c.QueryParam("org"))
	}
	if !dbText(v) || len(v) > 128 {
		return "", problem.NotFound("organization not found")
	}
	return v, nil
}

// membership is one row of an organization-resolving auth query.
type membership struct {
	ID        uuid.UUID
	Slug      string
	Name      string
	Suspended bool
	Role      string
}

// pickOrg chooses the organization a request acts in among the caller's
// memberships that matched the selector.
func pickOrg(selector string, ms []membership) (*orgScope, error) {
	switch {
	case len(ms) == 1:
		m := ms[0]
		return &orgScope{ID: m.ID, Slug: m.Slug, Name: m.Name, Suspended: m.Suspended, Role: m.Role}, nil
	case selector != "" && len(ms) == 0:
		return nil, problem.NotFound(fmt.Sprintf("organization %q not found", selector))
	case len(ms) == 0:
		return nil, problem.New(http.StatusForbidden, problem.TypeNoOrganization, "No organization",
			"you belong to no organization; ask a platform administrator to add you to one")
	}
	p := problem.New(http.StatusBadRequest, problem.TypeOrganizationRequired, "Organization required",
		"you belong to several organizations: name one with the "+orgHeader+" header or the org query parameter (slug or id)")
	for _, m := range ms {
		p.Organizations = append(p.Organizations, m.Slug)
	}
	return nil, p
}

// authRow is one row of any authentication query: the user, the token
// (API tokens), one matching membership, and the organization's apps
// fingerprint (scopeAppList).
type authRow struct {
	UserID     uuid.UUID
	Email      string
	Name       string
	IsAdmin    bool
	Disabled   bool
	Epoch      int64
	TokenID    uuid.UUID
	ExpiresAt  *time.Time
	LastUsedAt *time.Time
	Org        membership
	FP         store.APIAppsFingerprintRow
}

func (s *server) authJWT(c echo.Context, token string, sc scope) (*principal, error) {
	id, err := s.verifyJWT(token)
	if err != nil {
		return nil, err
	}
	p, err := s.jwtPrincipal(c, id.user, id.epoch, sc)
	if err != nil {
		return nil, err
	}
	if p.SessionEpoch != id.epoch {
		return nil, problem.Unauthorized("this login session has ended (the password was changed, or the account disabled): log in again")
	}
	return p, nil
}

// jwtPrincipal is the caller behind a verified login token of user uid
// carrying epoch. A cached principal with an older epoch is read again:
// the token is newer than the cache (a password changed through another
// replica, whose notification has not arrived yet).
func (s *server) jwtPrincipal(c echo.Context, uid uuid.UUID, epoch int64, sc scope) (*principal, error) {
	ctx := c.Request().Context()
	sel, err := orgSelector(c)
	if err != nil && sc >= scopeOrganization {
		return nil, err
	}
	now := s.Now()
	key := jwtCredKey(uid, sel, sc)
	if e, ok := s.creds.get(key, s.fresh, now, s.CacheRecheck); ok && e.p.SessionEpoch >= epoch {
		return e.principal(), nil
	}
	read := s.fresh.now()
	var rows []authRow
	switch sc {
	case scopeOrganization:
		rs, err := s.Store.APIAuthUserOrg(ctx, store.APIAuthUserOrgParams{UserID: uid, Selector: sel})
		if err != nil {
			return nil, err
		}
		for _, r := range rs {
			rows = append(rows, authRow{UserID: r.ID, Email: r.Email, Name: r.Name, IsAdmin: r.IsAdmin, Disabled: r.Disabled, Epoch: r.SessionEpoch,
				Org: membership{r.OrganizationID, r.Slug, r.OrgName, r.Suspended, r.Role}})
		}
	case scopeAppList:
		rs, err := s.Store.APIAuthUserOrgApps(ctx, store.APIAuthUserOrgAppsParams{UserID: uid, Selector: sel})
		if err != nil {
			return nil, err
		}
		for _, r := range rs {
			rows = append(rows, authRow{UserID: r.ID, Email: r.Email, Name: r.Name, IsAdmin: r.IsAdmin, Disabled: r.Disabled, Epoch: r.SessionEpoch,
				Org: membership{r.OrganizationID, r.Slug, r.OrgName, r.Suspended, r.Role},
				FP:  store.APIAppsFingerprintRow{Apps: r.FpApps, Versions: r.FpVersions, RowsHash: r.FpRowsHash, ReleasesHash: r.FpReleasesHash, DomainsHash: r.FpDomainsHash, PlansHash: r.FpPlansHash}})
		}
	default:
		u, err := s.Store.APIAuthUser(ctx, uid)
		if err != nil && !store.IsNotFound(err) {
			return nil, err
		}
		if err == nil {
			rows = append(rows, authRow{UserID: u.ID, Email: u.Email, Name: u.Name, IsAdmin: u.IsAdmin, Disabled: u.Disabled, Epoch: u.SessionEpoch})
		}
	}
	if len(rows) == 0 {
		return nil, problem.Unauthorized("the token's user no longer exists")
	}
	p, err := s.principalOf("jwt", sc, sel, rows, read)
	if err != nil {
		return nil, err
	}
	s.creds.put(key, &credEntry{p: *p, read: read, readAt: now})
	return p, nil
}

// principalOf builds the caller from its authentication rows, choosing
// the organization for organization-scoped requests.
func (s *server) principalOf(method string, sc scope, sel string, rows []authRow, read stamp) (*principal, error) {
	u := rows[0]
	if u.Disabled {
		return nil, disabledProblem()
	}
	p := &principal{UserID: u.UserID, Email: u.Email, Name: u.Name, IsAdmin: u.IsAdmin, Method: method,
		SessionEpoch: u.Epoch, TokenID: u.TokenID, TokenExpires: u.ExpiresAt}
	if sc < scopeOrganization {
		return p, nil
	}
	ms := make([]membership, 0, len(rows))
	for _, r := range rows {
		if r.Org.ID != uuid.Nil {
			ms = append(ms, r.Org)
		}
	}
	var err error
	if p.Org, err = pickOrg(sel, ms); err != nil {
		return nil, err
	}
	if sc == scopeAppList {
		for _, r := range rows {
			if r.Org.ID == p.Org.ID {
				fp := r.FP
				p.appsFP, p.appsRead = &fp, read
			}
		}
	}
	return p, nil
}

func hashToken(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

func (s *server) authAPIToken(c echo.Context, token string, sc scope) (*principal, error) {
	ctx := c.Request().Context()
	hash := hashToken(token)
	sel, err := orgSelector(c)
	if err != nil && sc >= scopeOrganization {
		return nil, err
	}
	now := s.Now()
	key := apiTokenCredKey(hash, sel, sc)
	if e, ok := s.creds.get(key, s.fresh, now, s.CacheRecheck); ok {
		if e.expires != nil && !now.Before(*e.expires) {
			return nil, problem.Unauthorized("the API token has expired")
		}
		if now.Sub(e.lastUsed) > tokenTouchInterval {
			if err := s.Store.APITouchToken(ctx, store.APITouchTokenParams{ID: e.tokenID, UsedAt: now}); err != nil {
				s.log.Warn().Err(err).Msg("touch API token")
			} else {
				s.creds.touched(key, now)
			}
		}
		return e.principal(), nil
	}
	read := s.fresh.now()
	var rows []authRow
	switch sc {
	case scopeOrganization:
		rs, err := s.Store.APIAuthTokenOrg(ctx, store.APIAuthTokenOrgParams{TokenHash: hash, Selector: sel})
		if err != nil {
			return nil, err
		}
		for _, r := range rs {
			rows = append(rows, authRow{UserID: r.ID, Email: r.Email, Name: r.Name, IsAdmin: r.IsAdmin, Disabled: r.Disabled, Epoch: r.SessionEpoch,
				TokenID: r.TokenID, ExpiresAt: r.ExpiresAt, LastUsedAt: r.LastUsedAt,
				Org: membership{r.OrganizationID, r.Slug, r.OrgName, r.Suspended, r.Role}})
		}
	case scopeAppList:
		rs, err := s.Store.APIAuthTokenOrgApps(ctx, store.APIAuthTokenOrgAppsParams{TokenHash: hash, Selector: sel})
		if err != nil {
			return nil, err
		}
		for _, r := range rs {
			rows = append(rows, authRow{UserID: r.ID, Email: r.Email, Name: r.Name, IsAdmin: r.IsAdmin, Disabled: r.Disabled, Epoch: r.SessionEpoch,
				TokenID: r.TokenID, ExpiresAt: r.ExpiresAt, LastUsedAt: r.LastUsedAt,
				Org: membership{r.OrganizationID, r.Slug, r.OrgName, r.Suspended, r.Role},
				FP:  store.APIAppsFingerprintRow{Apps: r.FpApps, Versions: r.FpVersions, RowsHash: r.FpRowsHash, ReleasesHash: r.FpReleasesHash, DomainsHash: r.FpDomainsHash, PlansHash: r.FpPlansHash}})
		}
	default:
		r, err := s.Store.APIAuthToken(ctx, hash)
		if err != nil && !store.IsNotFound(err) {
			return nil, err
		}
		if err == nil {
			rows = append(rows, authRow{UserID: r.ID, Email: r.Email, Name: r.Name, IsAdmin: r.IsAdmin, Disabled: r.Disabled, Epoch: r.SessionEpoch,
				TokenID: r.TokenID, ExpiresAt: r.ExpiresAt, LastUsedAt: r.LastUsedAt})
		}
	}
	if len(rows) == 0 {
		return nil, problem.Unauthorized("the API token is not valid (revoked?)")
	}
	r := rows[0]
	if exp := r.ExpiresAt; exp != nil && !now.Before(*exp) {
		return nil, problem.Unauthorized("the API token has expired")
	}
	var lastUsed time.Time
	if r.LastUsedAt != nil {
		lastUsed = *r.LastUsedAt
	}
	if now.Sub(lastUsed) > tokenTouchInterval {
		if err := s.Store.APITouchToken(ctx, store.APITouchTokenParams{ID: r.TokenID, UsedAt: now}); err != nil {
			s.log.Warn().Err(err).Msg("touch API token")
		} else {
			lastUsed = now
		}
	}
	p, err := s.principalOf("api_token", sc, sel, rows, read)
	if err != nil {
		return nil, err
	}
	s.creds.put(key, &credEntry{p: *p, tokenID: r.TokenID, expires: r.ExpiresAt, lastUsed: lastUsed, read: read, readAt: now})
	return p, nil
}

// tokenTouchInterval is how often an API token's last_used_at is written:
// no write per request.
const tokenTouchInterval = time.Minute
