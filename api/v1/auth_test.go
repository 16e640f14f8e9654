package v1_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
	"github.com/rs/zerolog"

	"github.com/skypanel/paas/api"
	"github.com/skypanel/paas/api/openapi"
	v1 "github.com/skypanel/paas/api/v1"
)

func TestLogin(t *testing.T) {
	t.Parallel()
	f := setup(t)

	t.Run("password gives a JWT that authenticates", func(t *testing.T) {
		t.Parallel()
		f := f.on(t)
		var tok openapi.LoginToken
		f.do("", "POST", "/api/auth/login", map[string]any{"email": "Alice@Example.com ", "password": testPassword}).want(200).decode(&tok)
		if tok.TokenType != "Bearer" || tok.Token == "" || strings.HasPrefix(tok.Token, "paas_") {
			t.Fatalf("token = %+v", tok)
		}
		if d := time.Until(tok.ExpiresAt); d < 23*time.Hour || d > 25*time.Hour {
			t.Fatalf("expires_at %s is not about 24h away", tok.ExpiresAt)
		}
		var me openapi.Me
		f.do(tok.Token, "GET", "/api/auth/me", nil).want(200).decode(&me)
		if me.User.Email != "alice@example.com" || me.AuthMethod != "jwt" || len(me.Organizations) != 1 || me.Organizations[0].Slug != "acme" || me.Organizations[0].Role != "owner" {
			t.Fatalf("me = %+v", me)
		}
	})
	t.Run("wrong password and unknown email answer the same 401", func(t *testing.T) {
		t.Parallel()
		f := f.on(t)
		a := f.do("", "POST", "/api/auth/login", map[string]any{"email": "bob@example.com", "password": "nope-nope"}).problem(401, "unauthorized")
		b := f.do("", "POST", "/api/auth/login", map[string]any{"email": "nobody@example.com", "password": "nope-nope"}).problem(401, "unauthorized")
		if a.Detail != b.Detail {
			t.Fatalf("details differ, telling emails apart: %q vs %q", a.Detail, b.Detail)
		}
	})
	t.Run("bad bodies", func(t *testing.T) {
		t.Parallel()
		f := f.on(t)
		f.do("", "POST", "/api/auth/login", raw{"application/json", `{"email":"a@b","password":"x","extra":1}`}).problem(400, "malformed-request")
		f.do("", "POST", "/api/auth/login", raw{"application/json", `{"email":`}).problem(400, "malformed-request")
		f.do("", "POST", "/api/auth/login", raw{"text/plain", `email=a`}).problem(415, "unsupported-media-type")
		p := f.do("", "POST", "/api/auth/login", map[string]any{"email": "", "password": ""}).problem(422, "validation-failed")
		fieldErr(t, p, "email")
		fieldErr(t, p, "password")
		f.do("", "POST", "/api/auth/login", raw{"application/json", `{"email":"a@b","password":"` + strings.Repeat("x", 2<<20) + `"}`}).problem(413, "payload-too-large")
	})
}

func TestLoginIsRateLimited(t *testing.T) {
	t.Parallel()
	f := setup(t, func(d *v1.Deps) { d.LoginAttemptsPerMinute = 3 })
	for i := 0; i < 3; i++ {
		f.do("", "POST", "/api/auth/login", map[string]any{"email": "alice@example.com", "password": "wrong-password"}).want(401)
	}
	r := f.do("", "POST", "/api/auth/login", map[string]any{"email": "alice@example.com", "password": testPassword})
	p := r.problem(429, "rate-limited")
	if r.Header.Get("Retry-After") == "" || !strings.Contains(p.Detail, "try again") {
		t.Fatalf("429 without Retry-After or explanation: %s", r)
	}
	// Another email from the same address is limited too: the address's bucket is empty.
	f.do("", "POST", "/api/auth/login", map[string]any{"email": "bob@example.com", "password": testPassword}).problem(429, "rate-limited")
	// A minute later the attempts have aged out.
	f.clock.Advance(time.Minute)
	f.do("", "POST", "/api/auth/login", map[string]any{"email": "alice@example.com", "password": testPassword}).want(200)
}

// TestLoginLimitIsShared checks replicas share one login budget: attempts
// spread over two API servers on one database are limited as one.
func TestLoginLimitIsShared(t *testing.T) {
	t.Parallel()
	deps := func(d *v1.Deps) { d.LoginAttemptsPerMinute = 4 }
	f := setup(t, deps)
	replica := v1.New(v1.Deps{Store: f.s, Box: f.box, JWTSecret: []byte("test-jwt-secret-of-at-least-32-characters"),
		Now: f.clock.Now, Logger: zerolog.Nop(), LoginAttemptsPerMinute: 4})
	other := httptest.NewServer((&api.Server{Register: replica.Register}).Handler(zerolog.Nop()))
	t.Cleanup(other.Close)
	login := func(base string) int {
		body := `{"email":"alice@example.com","password":"wrong-password"}`
		resp, err := http.Post(base+"/api/auth/login", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	var got []int
	for i := 0; i < 3; i++ {
		got = append(got, login(f.srv.URL), login(other.URL))
	}
	want := []int{401, 401, 401, 401, 429, 429}
	if !slices.Equal(got, want) {
		t.Fatalf("answers %v, want %v", got, want)
	}
}

func TestBearerTokens(t *testing.T) {
	t.Parallel()
	f := setup(t)

	forge := func(secret string, method jwt.SigningMethod, claims jwt.RegisteredClaims) string {
		tok, err := jwt.NewWithClaims(method, claims).SignedString([]byte(secret))
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	good := jwt.RegisteredClaims{Issuer: "paasd", Audience: jwt.ClaimStrings{"paas-api"}, Subject: f.alice.ID.String(),
		ExpiresAt: jwt.NewNumericDate(time.Now().Add(time.Hour))}
	noExp := good
	noExp.ExpiresAt = nil
	wrongAud := good
	wrongAud.Audience = jwt.ClaimStrings{"other"}
	ghost := good
	ghost.Subject = uuid.NewString()
	none, _ := jwt.NewWithClaims(jwt.SigningMethodNone, good).SignedString(jwt.UnsafeAllowNoneSignatureType)

	for name, header := range map[string]string{
		"no header":         "",
		"not bearer":        "Basic YWxpY2U6eA==",
		"empty bearer":      "Bearer ",
		"garbage":           "Bearer not-a-token",
		"other secret":      "Bearer " + forge("another-secret-another-secret-another", jwt.SigningMethodHS256, good),
		"HS512":             "Bearer " + forge("test-jwt-secret-of-at-least-32-characters", jwt.SigningMethodHS512, good),
		"alg none":          "Bearer " + none,
		"no expiry":         "Bearer " + forge("test-jwt-secret-of-at-least-32-characters", jwt.SigningMethodHS256, noExp),
		"wrong audience":    "Bearer " + forge("test-jwt-secret-of-at-least-32-characters", jwt.SigningMethodHS256, wrongAud),
		"deleted user":      "Bearer " + forge("test-jwt-secret-of-at-least-32-characters", jwt.SigningMethodHS256, ghost),
		"unknown API token": "Bearer paas_doesnotexist",
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			f := f.on(t)
			r := f.do("", "GET", "/api/auth/me", nil, "Authorization", header)
			r.problem(401, "unauthorized")
			if !strings.HasPrefix(r.Header.Get("WWW-Authenticate"), "Bearer") {
				t.Fatalf("no WWW-Authenticate: %s", r)
			}
		})
	}
	t.Run("scheme is case-insensitive", func(t *testing.T) {
		t.Parallel()
		f := f.on(t)
		f.do("", "GET", "/api/auth/me", nil, "Authorization", "bearer "+f.alice.token).want(200)
	})
	t.Run("expired login token", func(t *testing.T) {
		t.Parallel()
		g := setup(t)
		g.clock.Advance(25 * time.Hour)
		p := g.do(g.alice.token, "GET", "/api/auth/me", nil).problem(401, "unauthorized")
		if !strings.Contains(p.Detail, "expired") {
			t.Fatalf("detail %q does not say expired", p.Detail)
		}
	})
}

func TestAPITokens(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx := context.Background()

	var created openapi.CreatedAPIToken
	f.do(f.alice.token, "POST", "/api/auth/tokens", map[string]any{"name": "ci", "expires_in_days": 30}).want(201).decode(&created)
	if !strings.HasPrefix(created.Token, "paas_") || !strings.HasPrefix(created.Token, created.Prefix) || created.ExpiresAt == nil {
		t.Fatalf("created = %+v", created)
	}
	// Stored hashed: the text is nowhere in the table.
	var n int
	if err := f.s.Pool.QueryRow(ctx, "SELECT count(*) FROM paas_api_tokens WHERE position(convert_to($1, 'UTF8') in token_hash) > 0 OR prefix = $1", created.Token).Scan(&n); err != nil || n != 0 {
		t.Fatalf("token text stored: %d %v", n, err)
	}

	var me openapi.Me
	f.do(created.Token, "GET", "/api/auth/me", nil).want(200).decode(&me)
	if me.AuthMethod != "api_token" || me.User.Id != f.alice.ID {
		t.Fatalf("me = %+v", me)
	}
	// The token acts in the user's organization like a login token.
	f.createApp(created.Token, "from-token", map[string]any{"image": "nginx:1.27"})
	// last_used_at is recorded.
	var list openapi.APITokenList
	f.do(f.alice.token, "GET", "/api/auth/tokens", nil).want(200).decode(&list)
	if len(list.Items) != 1 || list.Items[0].LastUsedAt == nil || list.Items[0].Id != created.Id {
		t.Fatalf("list = %+v", list)
	}
	if strings.Contains(string(f.do(f.alice.token, "GET", "/api/auth/tokens", nil).Body), created.Token) {
		t.Fatal("listing shows the token text")
	}
	// Bob does not see, and cannot revoke, Alice's token.
	f.do(f.bob.token, "GET", "/api/auth/tokens", nil).want(200).decode(&list)
	if len(list.Items) != 0 {
		t.Fatalf("bob sees %+v", list)
	}
	f.do(f.bob.token, "DELETE", "/api/auth/tokens/"+created.Id.String(), nil).problem(404, "not-found")
	f.do(created.Token, "GET", "/api/auth/me", nil).want(200)

	// Validation.
	p := f.do(f.alice.token, "POST", "/api/auth/tokens", map[string]any{"name": "", "expires_in_days": 0}).problem(422, "validation-failed")
	fieldErr(t, p, "name")
	fieldErr(t, p, "expires_in_days")
	f.do(f.alice.token, "DELETE", "/api/auth/tokens/not-a-uuid", nil).problem(400, "malformed-request")

	// Revoked tokens stop working at once.
	f.do(f.alice.token, "DELETE", "/api/auth/tokens/"+created.Id.String(), nil).want(204)
	f.do(created.Token, "GET", "/api/auth/me", nil).problem(401, "unauthorized")
	f.do(f.alice.token, "DELETE", "/api/auth/tokens/"+created.Id.String(), nil).problem(404, "not-found")

	// Expired tokens are refused.
	var short openapi.CreatedAPIToken
	f.do(f.alice.token, "POST", "/api/auth/tokens", map[string]any{"name": "short", "expires_in_days": 1}).want(201).decode(&short)
	f.do(short.Token, "GET", "/api/auth/me", nil).want(200)
	f.clock.Advance(49 * time.Hour)
	f.do(short.Token, "GET", "/api/auth/me", nil).problem(401, "unauthorized")

	// Creating and revoking are audited.
	entries, err := f.s.ListAudit(ctx, 100)
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, e := range entries {
		actions = append(actions, e.Action)
	}
	if got := strings.Join(actions, ","); !strings.Contains(got, "token.create") || !strings.Contains(got, "token.delete") {
		t.Fatalf("audit = %s", got)
	}
}

func TestOrganizationScoping(t *testing.T) {
	t.Parallel()
	f := setup(t)
	f.createApp(f.alice.token, "acme-app", map[string]any{"image": "nginx"})
	f.createApp(f.bob.token, "globex-app", map[string]any{"image": "nginx"})

	names := func(r *res) []string {
		var l openapi.AppList
		r.want(200).decode(&l)
		var out []string
		for _, a := range l.Items {
			out = append(out, a.Name)
		}
		return out
	}
	for _, tc := range []struct {
		name  string
		token string
		hdrs  []string
		query string
		want  string
	}{
		{"single org names none", f.alice.token, nil, "", "acme-app"},
		{"header by slug", f.carol.token, []string{"X-Paas-Organization", "globex"}, "", "globex-app"},
		{"header by id", f.carol.token, []string{"X-Paas-Organization", f.acme.ID.String()}, "", "acme-app"},
		{"query parameter", f.carol.token, nil, "?org=acme", "acme-app"},
		{"header wins over query", f.carol.token, []string{"X-Paas-Organization", "globex"}, "?org=acme", "globex-app"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := f.on(t)
			if got := names(f.do(tc.token, "GET", "/api/paas/apps"+tc.query, nil, tc.hdrs...)); len(got) != 1 || got[0] != tc.want {
				t.Fatalf("apps = %v, want [%s]", got, tc.want)
			}
		})
	}
	t.Run("several organizations and none named", func(t *testing.T) {
		t.Parallel()
		f := f.on(t)
		p := f.do(f.carol.token, "GET", "/api/paas/apps", nil).problem(400, "organization-required")
		if strings.Join(p.Organizations, ",") != "acme,globex" {
			t.Fatalf("organizations = %v", p.Organizations)
		}
	})
	t.Run("another organization is absent", func(t *testing.T) {
		t.Parallel()
		f := f.on(t)
		f.do(f.alice.token, "GET", "/api/paas/apps", nil, "X-Paas-Organization", "globex").problem(404, "not-found")
		f.do(f.alice.token, "GET", "/api/paas/apps", nil, "X-Paas-Organization", f.globex.ID.String()).problem(404, "not-found")
		f.do(f.alice.token, "GET", "/api/paas/apps", nil, "X-Paas-Organization", "no-such-org").problem(404, "not-found")
		// Platform admins act in their own organizations only; /api/admin sees all.
		f.do(f.admin.token, "GET", "/api/paas/apps", nil, "X-Paas-Organization", "acme").problem(404, "not-found")
	})
	t.Run("no organization at all", func(t *testing.T) {
		t.Parallel()
		f := f.on(t)
		f.do(f.dave.token, "GET", "/api/paas/apps", nil).problem(403, "no-organization")
		// Routes outside /api/paas still work for such a user.
		f.do(f.dave.token, "GET", "/api/auth/me", nil).want(200)
	})
}

// TestCachedCredentials checks what cached credentials still enforce while
// nothing refreshes them (CacheRecheck longer than the test): an API token's
// expiry, and last_used_at written about once a minute of use.
func TestCachedCredentials(t *testing.T) {
	t.Parallel()
	f := setup(t, func(d *v1.Deps) { d.CacheRecheck = 1000 * time.Hour })
	var tok openapi.CreatedAPIToken
	f.do(f.alice.token, "POST", "/api/auth/tokens", map[string]any{"name": "short", "expires_in_days": 1}).want(201).decode(&tok)
	lastUsed := func() time.Time {
		var list openapi.APITokenList
		f.do(f.alice.token, "GET", "/api/auth/tokens", nil).want(200).decode(&list)
		for _, it := range list.Items {
			if it.Id == tok.Id && it.LastUsedAt != nil {
				return *it.LastUsedAt
			}
		}
		return time.Time{}
	}
	f.do(tok.Token, "GET", "/api/paas/apps", nil).want(200)
	first := lastUsed()
	if first.IsZero() {
		t.Fatal("last_used_at not recorded")
	}
	f.clock.Advance(30 * time.Second)
	f.do(tok.Token, "GET", "/api/paas/apps", nil).want(200)
	if got := lastUsed(); !got.Equal(first) {
		t.Fatalf("last_used_at moved %s -> %s within a minute", first, got)
	}
	f.clock.Advance(2 * time.Minute)
	f.do(tok.Token, "GET", "/api/paas/apps", nil).want(200)
	if got := lastUsed(); !got.After(first.Add(2 * time.Minute)) {
		t.Fatalf("last_used_at %s not refreshed after 2.5 minutes (was %s)", got, first)
	}
	f.clock.Advance(49 * time.Hour)
	f.do(tok.Token, "GET", "/api/paas/apps", nil).problem(401, "unauthorized")
	f.do(tok.Token, "GET", "/api/auth/me", nil).problem(401, "unauthorized")
}
