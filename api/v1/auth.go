package v1

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/skypanel/paas/api/openapi"
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

type claims struct {
	jwt.RegisteredClaims
}

// jwtLeeway tolerates clock skew on exp and nbf.
const jwtLeeway = 5 * time.Second

// verifyJWT checks a login token's signature, algorithm, issuer, audience
// and expiry, and returns its user. Tokens already verified are
// remembered with their expiry (see verifiedJWTs), which is still checked.
func (s *server) verifyJWT(token string) (uuid.UUID, error) {
	now := s.Now()
	if uid, ok := s.jwts.lookup(token, now); ok {
		return uid, nil
	}
	var cl claims
	_, err := jwt.ParseWithClaims(token, &cl, func(*jwt.Token) (any, error) { return s.JWTSecret, nil },
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithIssuer(jwtIssuer), jwt.WithAudience(jwtAudience),
		jwt.WithExpirationRequired(), jwt.WithTimeFunc(s.Now), jwt.WithLeeway(jwtLeeway))
	if err != nil {
		if errors.Is(err, jwt.ErrTokenExpired) {
			return uuid.Nil, problem.Unauthorized("the login token has expired; log in again")
		}
		return uuid.Nil, problem.Unauthorized("the token is not valid")
	}
	uid, err := uuid.Parse(cl.Subject)
	if err != nil {
		return uuid.Nil, problem.Unauthorized("the token is not valid")
	}
	s.jwts.remember(token, uid, cl.ExpiresAt.Time)
	return uid, nil
}

// verifiedJWTs remembers login tokens whose signature was verified, so a
// client's next requests skip decoding and HMAC. Only a token that passed
// every check gets in, keyed by its full text; its expiry is checked on
// every use, and the user is still read from the database on every
// request, so nothing is trusted longer than the token itself says.
type verifiedJWTs struct {
	mu sync.Mutex
	m  map[string]verifiedJWT
}

type verifiedJWT struct {
	user uuid.UUID
	exp  time.Time
}

const maxVerifiedJWTs = 10000

func (v *verifiedJWTs) lookup(token string, now time.Time) (uuid.UUID, bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	e, ok := v.m[token]
	if !ok || !now.Before(e.exp.Add(jwtLeeway)) {
		return uuid.Nil, false
	}
	return e.user, true
}

func (v *verifiedJWTs) remember(token string, user uuid.UUID, exp time.Time) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.m == nil || len(v.m) >= maxVerifiedJWTs {
		v.m = make(map[string]verifiedJWT)
	}
	v.m[token] = verifiedJWT{user: user, exp: exp}
}

// authRow is one row of any authentication query: the user, the token
// (API tokens), one matching membership, and the organization's apps
// fingerprint (scopeAppList).
type authRow struct {
	UserID     uuid.UUID
	Email      string
	Name       string
	IsAdmin    bool
	TokenID    uuid.UUID
	ExpiresAt  *time.Time
	LastUsedAt *time.Time
	Org        membership
	FP         store.APIAppsFingerprintRow
}

func (s *server) authJWT(c echo.Context, token string, sc scope) (*principal, error) {
	uid, err := s.verifyJWT(token)
	if err != nil {
		return nil, err
	}
	ctx := c.Request().Context()
	sel, err := orgSelector(c)
	if err != nil && sc >= scopeOrganization {
		return nil, err
	}
	now := s.Now()
	key := jwtCredKey(uid, sel, sc)
	if e, ok := s.creds.get(key, s.fresh, now, s.CacheRecheck); ok {
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
			rows = append(rows, authRow{UserID: r.ID, Email: r.Email, Name: r.Name, IsAdmin: r.IsAdmin,
				Org: membership{r.OrganizationID, r.Slug, r.OrgName, r.Suspended, r.Role}})
		}
	case scopeAppList:
		rs, err := s.Store.APIAuthUserOrgApps(ctx, store.APIAuthUserOrgAppsParams{UserID: uid, Selector: sel})
		if err != nil {
			return nil, err
		}
		for _, r := range rs {
			rows = append(rows, authRow{UserID: r.ID, Email: r.Email, Name: r.Name, IsAdmin: r.IsAdmin,
				Org: membership{r.OrganizationID, r.Slug, r.OrgName, r.Suspended, r.Role},
				FP:  store.APIAppsFingerprintRow{Apps: r.FpApps, Versions: r.FpVersions, RowsHash: r.FpRowsHash, ReleasesHash: r.FpReleasesHash, DomainsHash: r.FpDomainsHash, PlansHash: r.FpPlansHash}})
		}
	default:
		u, err := s.Store.APIAuthUser(ctx, uid)
		if err != nil && !store.IsNotFound(err) {
			return nil, err
		}
		if err == nil {
			rows = append(rows, authRow{UserID: u.ID, Email: u.Email, Name: u.Name, IsAdmin: u.IsAdmin})
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
	p := &principal{UserID: u.UserID, Email: u.Email, Name: u.Name, IsAdmin: u.IsAdmin, Method: method}
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
			rows = append(rows, authRow{UserID: r.ID, Email: r.Email, Name: r.Name, IsAdmin: r.IsAdmin,
				TokenID: r.TokenID, ExpiresAt: r.ExpiresAt, LastUsedAt: r.LastUsedAt,
				Org: membership{r.OrganizationID, r.Slug, r.OrgName, r.Suspended, r.Role}})
		}
	case scopeAppList:
		rs, err := s.Store.APIAuthTokenOrgApps(ctx, store.APIAuthTokenOrgAppsParams{TokenHash: hash, Selector: sel})
		if err != nil {
			return nil, err
		}
		for _, r := range rs {
			rows = append(rows, authRow{UserID: r.ID, Email: r.Email, Name: r.Name, IsAdmin: r.IsAdmin,
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
			rows = append(rows, authRow{UserID: r.ID, Email: r.Email, Name: r.Name, IsAdmin: r.IsAdmin,
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

// issueJWT signs a login token for a user.
func (s *server) issueJWT(userID uuid.UUID) (string, time.Time, error) {
	now := s.Now()
	exp := now.Add(s.TokenTTL)
	tok := jwt.NewWithClaims(jwt.SigningMethodHS256, claims{jwt.RegisteredClaims{
		Issuer: jwtIssuer, Subject: userID.String(), Audience: jwt.ClaimStrings{jwtAudience},
		IssuedAt: jwt.NewNumericDate(now), NotBefore: jwt.NewNumericDate(now.Add(-5 * time.Second)),
		ExpiresAt: jwt.NewNumericDate(exp), ID: uuid.NewString(),
	}})
	signed, err := tok.SignedString(s.JWTSecret)
	return signed, exp, err
}

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
	out := openapi.Me{User: userOut(u.ID, u.Email, u.Name, u.IsAdmin, u.CreatedAt), AuthMethod: openapi.MeAuthMethod(p.Method),
		Organizations: make([]openapi.MembershipSummary, 0, len(orgs))}
	for _, o := range orgs {
		out.Organizations = append(out.Organizations, openapi.MembershipSummary{
			Id: o.ID, Name: o.Name, Slug: o.Slug, Role: openapi.MembershipSummaryRole(o.Role), Suspended: o.Suspended})
	}
	return c.JSON(http.StatusOK, out)
}

func userOut(id uuid.UUID, email, name string, admin bool, created time.Time) openapi.User {
	return openapi.User{Id: id, Email: email, Name: name, IsAdmin: admin, CreatedAt: created}
}

// ListAPITokens lists the caller's tokens.
func (s *server) ListAPITokens(c echo.Context) error {
	toks, err := s.Store.ListAPITokens(c.Request().Context(), caller(c).UserID)
	if err != nil {
		return err
	}
	out := openapi.APITokenList{Items: make([]openapi.APIToken, 0, len(toks))}
	for _, t := range toks {
		out.Items = append(out.Items, openapi.APIToken{Id: t.ID, Name: t.Name, Prefix: t.Prefix,
			ExpiresAt: t.ExpiresAt, LastUsedAt: t.LastUsedAt, CreatedAt: t.CreatedAt})
	}
	return c.JSON(http.StatusOK, out)
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
	var expires *time.Time
	if req.ExpiresInDays != nil {
		if *req.ExpiresInDays < 1 || *req.ExpiresInDays > 3650 {
			errs = append(errs, problem.FieldError{Field: "expires_in_days", Message: "must be between 1 and 3650"})
		} else {
			t := s.Now().Add(time.Duration(*req.ExpiresInDays) * 24 * time.Hour).UTC()
			expires = &t
		}
	}
	if len(errs) > 0 {
		return problem.Invalid(errs...)
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return err
	}
	token := apiTokenPrefix + strings.ToLower(tokenEncoding.EncodeToString(raw))
	p := caller(c)
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
