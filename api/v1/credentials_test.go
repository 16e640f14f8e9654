package v1_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/skypanel/paas/api/openapi"
	v1 "github.com/skypanel/paas/api/v1"
)

// createToken makes an API token as the holder of token.
func (f *fixture) createToken(token string, body map[string]any) openapi.CreatedAPIToken {
	f.t.Helper()
	var out openapi.CreatedAPIToken
	f.do(token, "POST", "/api/auth/tokens", body).want(201).decode(&out)
	return out
}

// TestTokenCannotOutliveItsCreator: an API token creates only tokens that
// expire no later than itself; a token without expiry, or a login, may
// create any.
func TestTokenCannotOutliveItsCreator(t *testing.T) {
	t.Parallel()
	f := setup(t)
	tenDays := f.createToken(f.alice.token, map[string]any{"name": "ten", "expires_in_days": 10})

	p := f.do(tenDays.Token, "POST", "/api/auth/tokens", map[string]any{"name": "longer", "expires_in_days": 30}).problem(422, "validation-failed")
	if e := fieldErr(t, p, "expires_in_days"); !strings.Contains(e.Message, "at most 9") && !strings.Contains(e.Message, "at most 10") {
		t.Fatalf("message %q does not say the most it may ask for", e.Message)
	}
	p = f.do(tenDays.Token, "POST", "/api/auth/tokens", map[string]any{"name": "forever"}).problem(422, "validation-failed")
	fieldErr(t, p, "expires_in_days")

	child := f.createToken(tenDays.Token, map[string]any{"name": "child", "expires_in_days": 9})
	if child.ExpiresAt == nil || child.ExpiresAt.After(*tenDays.ExpiresAt) {
		t.Fatalf("child expires %v, after its creator (%v)", child.ExpiresAt, tenDays.ExpiresAt)
	}

	forever := f.createToken(f.alice.token, map[string]any{"name": "forever"})
	f.createToken(forever.Token, map[string]any{"name": "long", "expires_in_days": 3650})
	if tok := f.createToken(forever.Token, map[string]any{"name": "forever too"}); tok.ExpiresAt != nil {
		t.Fatalf("a token without expiry could not create one: %+v", tok)
	}
}

// TestDisabledUserIsLockedOutAtOnce: disabling a user refuses its logins,
// its login tokens and its API tokens on the next request, cached or not,
// on this replica or another.
func TestDisabledUserIsLockedOutAtOnce(t *testing.T) {
	t.Parallel()
	// Cached credentials are trusted on notifications alone: only they can
	// tell this process that another one disabled the user.
	f := setup(t, func(d *v1.Deps) { d.CacheRecheck = 1000 * time.Hour })
	tok := f.createToken(f.alice.token, map[string]any{"name": "ci"})
	warm := func() {
		for range 2 {
			f.do(tok.Token, "GET", "/api/paas/apps", nil).want(200)
			f.do(f.alice.token, "GET", "/api/paas/apps", nil).want(200)
			f.do(tok.Token, "GET", "/api/auth/me", nil).want(200)
		}
	}
	warm()

	var u openapi.User
	f.do(f.admin.token, "PATCH", "/api/admin/paas/users/alice@example.com", map[string]any{"disabled": true}).want(200).decode(&u)
	if !u.Disabled || u.Id != f.alice.ID {
		t.Fatalf("user = %+v", u)
	}
	for _, cred := range []string{tok.Token, f.alice.token} {
		f.do(cred, "GET", "/api/paas/apps", nil).problem(401, "unauthorized")
		f.do(cred, "GET", "/api/auth/me", nil).problem(401, "unauthorized")
	}
	p := f.do("", "POST", "/api/auth/login", map[string]any{"email": "alice@example.com", "password": testPassword}).problem(401, "unauthorized")
	if !strings.Contains(p.Detail, "disabled") {
		t.Fatalf("detail %q does not say disabled", p.Detail)
	}

	// Enabled again: the API token works, the login token of before does
	// not (disabling ended every session), a new login does.
	f.do(f.admin.token, "PATCH", "/api/admin/paas/users/"+f.alice.ID.String(), map[string]any{"disabled": false}).want(200).decode(&u)
	if u.Disabled {
		t.Fatalf("user = %+v", u)
	}
	f.do(tok.Token, "GET", "/api/paas/apps", nil).want(200)
	f.do(f.alice.token, "GET", "/api/paas/apps", nil).problem(401, "unauthorized")
	var lt openapi.LoginToken
	f.do("", "POST", "/api/auth/login", map[string]any{"email": "alice@example.com", "password": testPassword}).want(200).decode(&lt)
	f.do(lt.Token, "GET", "/api/paas/apps", nil).want(200)

	// Disabled through another replica (straight in the database): the
	// change notification makes this process's cache see it.
	for range 2 {
		f.do(lt.Token, "GET", "/api/paas/apps", nil).want(200)
		f.do(tok.Token, "GET", "/api/paas/apps", nil).want(200)
	}
	if _, err := f.s.Pool.Exec(context.Background(), "UPDATE paas_users SET disabled_at = now() WHERE id = $1", f.alice.ID); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the cache to see the disabled user", func() bool {
		return f.do(tok.Token, "GET", "/api/paas/apps", nil).Code == 401 && f.do(lt.Token, "GET", "/api/paas/apps", nil).Code == 401
	})

	// Refusals.
	f.do(f.admin.token, "PATCH", "/api/admin/paas/users/admin@example.com", map[string]any{"disabled": true}).problem(409, "conflict")
	f.do(f.bob.token, "PATCH", "/api/admin/paas/users/carol@example.com", map[string]any{"disabled": true}).problem(403, "forbidden")
	f.do(f.admin.token, "PATCH", "/api/admin/paas/users/nobody@example.com", map[string]any{"disabled": true}).problem(404, "not-found")
	f.do(f.admin.token, "PATCH", "/api/admin/paas/users/carol@example.com", map[string]any{"disabled": "yes"}).problem(400, "malformed-request")
	f.do(f.admin.token, "PATCH", "/api/admin/paas/users/carol@example.com", map[string]any{}).problem(422, "validation-failed")
	f.do(f.carol.token, "GET", "/api/auth/me", nil).want(200)
}

// TestChangePassword: the current password is required; the change ends
// every other session and API token of the user, and answers a new login
// token for the caller.
func TestChangePassword(t *testing.T) {
	t.Parallel()
	f := setup(t)
	kept := f.createToken(f.alice.token, map[string]any{"name": "kept"})
	other := f.createToken(f.alice.token, map[string]any{"name": "other"})
	var session openapi.LoginToken
	f.do("", "POST", "/api/auth/login", map[string]any{"email": "alice@example.com", "password": testPassword}).want(200).decode(&session)
	for _, cred := range []string{kept.Token, other.Token, session.Token, f.alice.token} {
		f.do(cred, "GET", "/api/paas/apps", nil).want(200)
	}
	before := f.state()
	p := f.do(kept.Token, "POST", "/api/auth/password", map[string]any{"current_password": "not it", "new_password": "a brand new secret"}).problem(422, "validation-failed")
	fieldErr(t, p, "current_password")
	p = f.do(kept.Token, "POST", "/api/auth/password", map[string]any{"current_password": testPassword, "new_password": "short"}).problem(422, "validation-failed")
	fieldErr(t, p, "new_password")
	f.do(kept.Token, "POST", "/api/auth/password", map[string]any{"current_password": testPassword}).problem(422, "validation-failed")
	if after := f.state(); after != before {
		t.Fatalf("a refused change changed state:\n%s\n%s", before, after)
	}

	r := f.do(kept.Token, "POST", "/api/auth/password", map[string]any{"current_password": testPassword, "new_password": "a brand new secret"}).want(200)
	var fresh openapi.LoginToken
	r.decode(&fresh)
	f.do(fresh.Token, "GET", "/api/paas/apps", nil).want(200)
	f.do(kept.Token, "GET", "/api/paas/apps", nil).want(200)
	for _, cred := range []string{other.Token, session.Token, f.alice.token} {
		f.do(cred, "GET", "/api/paas/apps", nil).problem(401, "unauthorized")
	}
	f.do("", "POST", "/api/auth/login", map[string]any{"email": "alice@example.com", "password": testPassword}).problem(401, "unauthorized")
	f.do("", "POST", "/api/auth/login", map[string]any{"email": "alice@example.com", "password": "a brand new secret"}).want(200)
	// Bob's credentials are untouched.
	f.do(f.bob.token, "GET", "/api/paas/apps", nil).want(200)

	// From a login session, every API token goes and only the new session stays.
	third := f.createToken(fresh.Token, map[string]any{"name": "third"})
	r = f.do(fresh.Token, "POST", "/api/auth/password", map[string]any{"current_password": "a brand new secret", "new_password": "yet another secret"}).want(200)
	var newest openapi.LoginToken
	r.decode(&newest)
	for _, cred := range []string{fresh.Token, kept.Token, third.Token} {
		f.do(cred, "GET", "/api/auth/me", nil).problem(401, "unauthorized")
	}
	f.do(newest.Token, "GET", "/api/auth/me", nil).want(200)

	entries, err := f.s.ListAudit(context.Background(), 100)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range entries {
		if e.Action == "user.password" {
			n++
			if strings.Contains(string(e.Details), "secret") {
				t.Fatalf("audit details carry the password: %s", e.Details)
			}
		}
	}
	if n != 2 {
		t.Fatalf("%d user.password audit entries, want 2", n)
	}
}

// TestChangePasswordIsRateLimited: guessing the current password through
// this route is slowed like logins.
func TestChangePasswordIsRateLimited(t *testing.T) {
	t.Parallel()
	f := setup(t)
	limited := false
	for range 12 {
		r := f.do(f.alice.token, "POST", "/api/auth/password", map[string]any{"current_password": "guess-guess", "new_password": "a brand new secret"})
		if r.Code == 429 {
			limited = true
			break
		}
		r.problem(422, "validation-failed")
	}
	if !limited {
		t.Fatal("12 wrong current passwords in a row were never slowed down")
	}
}
