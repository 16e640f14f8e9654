package v1_test

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/skypanel/paas/api/problem"
	v1 "github.com/skypanel/paas/api/v1"
	"github.com/skypanel/paas/store"
)

// apiToken makes a personal API token for u straight in the database, as
// POST /api/auth/tokens would, expiring at exp (nil: never).
func (f *fixture) apiToken(u user, exp *time.Time) (string, uuid.UUID) {
	f.t.Helper()
	raw := make([]byte, 20)
	_, _ = rand.Read(raw)
	text := "paas_" + hex.EncodeToString(raw)
	h := sha256.Sum256([]byte(text))
	t, err := f.s.CreateAPIToken(context.Background(), store.CreateAPITokenParams{UserID: u.ID, Name: "stream",
		TokenHash: h[:], Prefix: text[:13], ExpiresAt: exp})
	if err != nil {
		f.t.Fatal(err)
	}
	return text, t.ID
}

// revoke deletes an API token behind the API's back, as another replica
// would: only the change notification (or a re-check) can tell the API.
func (f *fixture) revoke(id uuid.UUID) {
	f.t.Helper()
	if _, err := f.s.Pool.Exec(context.Background(), `DELETE FROM paas_api_tokens WHERE id = $1`, id); err != nil {
		f.t.Fatal(err)
	}
}

// removeMember deletes a membership behind the API's back.
func (f *fixture) removeMember(org uuid.UUID, u user) {
	f.t.Helper()
	if n, err := f.s.APIRemoveMembership(context.Background(), store.APIRemoveMembershipParams{OrganizationID: org, UserID: u.ID}); err != nil || n != 1 {
		f.t.Fatalf("removed %d memberships: %v", n, err)
	}
}

// endOf waits for the stream's last message, event end with a problem,
// and for the server to close the stream after it. pings counts the
// heartbeats that came before it.
func (st *sseStream) endOf(timeout time.Duration) (p problem.Problem, pings int) {
	st.t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case ev, ok := <-st.events:
			if !ok {
				st.t.Fatal("stream closed without an end event")
			}
			switch ev.Event {
			case "comment":
				if ev.Data == "ping" {
					pings++
				}
				continue
			case "end":
			default:
				continue
			}
			if err := json.Unmarshal([]byte(ev.Data), &p); err != nil || p.Status == 0 {
				st.t.Fatalf("end event %+v is not a problem (%v)", ev, err)
			}
			st.closed(timeout)
			return p, pings
		case <-deadline:
			st.t.Fatalf("the stream did not end within %s", timeout)
		}
	}
}

// closed fails unless the server closes the stream, with nothing more
// than comments, within timeout.
func (st *sseStream) closed(timeout time.Duration) {
	st.t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case ev, ok := <-st.events:
			if !ok {
				return
			}
			if ev.Event != "comment" {
				st.t.Fatalf("event %+v after the end", ev)
			}
		case <-deadline:
			st.t.Fatalf("the server kept the stream open %s after its end", timeout)
		}
	}
}

// skipToSynced reads a watch's first burst.
func (st *sseStream) skipToSynced() {
	st.t.Helper()
	st.until(wait, func(ev sseEvent) bool { return ev.Event == "synced" })
}

func wantProblem(t *testing.T, p problem.Problem, status int, typ string) {
	t.Helper()
	if p.Status != status || p.Type != problem.TypeBase+typ {
		t.Fatalf("end problem %+v, want %d %s", p, status, typ)
	}
}

// TestWatchEndsWithinAHeartbeatOfRevocation: with no change notifications
// to go by (the API does not follow them), the re-check on the heartbeat
// ends a watch whose API token was revoked, or whose user left the
// organization, before a second heartbeat.
func TestWatchEndsWithinAHeartbeatOfRevocation(t *testing.T) {
	t.Parallel()
	f := setupUnfollowed(t, func(d *v1.Deps) { d.Heartbeat = 300 * time.Millisecond })
	f.createApp(f.alice.token, "web", map[string]any{"image": "nginx", "env": map[string]string{"SECRET": "s3cret"}})
	exp := time.Now().Add(time.Hour)

	t.Run("token revoked", func(t *testing.T) {
		f := f.on(t)
		tok, id := f.apiToken(f.alice, &exp)
		st := f.stream(tok, "/api/paas/watch")
		st.skipToSynced()
		f.revoke(id)
		p, pings := st.endOf(wait)
		wantProblem(t, p, 401, "unauthorized")
		// The guard and the watch tick on their own tickers of the same
		// period, so one more ping may slip in before the end; never two.
		if pings > 2 {
			t.Fatalf("%d heartbeats passed before the stream ended, want at most one", pings)
		}
	})
	t.Run("member removed", func(t *testing.T) {
		f := f.on(t)
		tok, _ := f.apiToken(f.carol, &exp)
		st := f.stream(tok, "/api/paas/watch", "X-Paas-Organization", "acme")
		st.skipToSynced()
		f.removeMember(f.acme.ID, f.carol)
		p, pings := st.endOf(wait)
		wantProblem(t, p, 404, "not-found")
		if pings > 2 {
			t.Fatalf("%d heartbeats passed before the stream ended, want at most one", pings)
		}
	})
}

// TestWatchEndsOnAuthNotification: with a heartbeat far beyond the test,
// the auth notification alone ends the stream: of a revoked token, of a
// removed member (on another organization's stream nothing ends), of a
// deleted organization.
func TestWatchEndsOnAuthNotification(t *testing.T) {
	t.Parallel()
	f := setup(t, func(d *v1.Deps) { d.Heartbeat = time.Hour })
	f.createApp(f.alice.token, "web", map[string]any{"image": "nginx"})

	tok, id := f.apiToken(f.alice, nil)
	revoked := f.stream(tok, "/api/paas/watch")
	revoked.skipToSynced()
	carolAcme := f.stream(f.carol.token, "/api/paas/watch", "X-Paas-Organization", "acme")
	carolAcme.skipToSynced()
	carolGlobex := f.stream(f.carol.token, "/api/paas/watch", "X-Paas-Organization", "globex")
	carolGlobex.skipToSynced()

	f.revoke(id)
	p, _ := revoked.endOf(wait)
	wantProblem(t, p, 401, "unauthorized")

	f.removeMember(f.acme.ID, f.carol)
	p, _ = carolAcme.endOf(wait)
	wantProblem(t, p, 404, "not-found")
	// Her other organization's stream still follows its apps.
	app := f.createApp(f.bob.token, "api", map[string]any{"image": "nginx"})
	if a := appEvent(t, carolGlobex.until(wait, func(ev sseEvent) bool { return ev.Event == "app" })); a.Id != app.Id {
		t.Fatalf("globex stream got %+v", a)
	}

	ctx := context.Background()
	o, err := f.s.CreateOrganization(ctx, store.CreateOrganizationParams{Name: "Initech", Slug: "initech"})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.s.AddMembership(ctx, store.AddMembershipParams{OrganizationID: o.ID, UserID: f.dave.ID, Role: "owner"}); err != nil {
		t.Fatal(err)
	}
	deleted := f.stream(f.dave.token, "/api/paas/watch")
	deleted.skipToSynced()
	if _, err := f.s.Pool.Exec(ctx, `DELETE FROM paas_organizations WHERE id = $1`, o.ID); err != nil {
		t.Fatal(err)
	}
	p, _ = deleted.endOf(wait)
	if p.Status != 403 && p.Status != 404 {
		t.Fatalf("end problem %+v, want 403 or 404", p)
	}
}

// TestWatchEndsAtTokenExpiry: no heartbeat and no notification happens,
// yet the stream does not outlive its token.
func TestWatchEndsAtTokenExpiry(t *testing.T) {
	t.Parallel()
	f := setup(t, func(d *v1.Deps) { d.Heartbeat = time.Hour })
	exp := time.Now().Add(1500 * time.Millisecond)
	tok, _ := f.apiToken(f.alice, &exp)
	st := f.stream(tok, "/api/paas/watch")
	st.skipToSynced()
	p, _ := st.endOf(wait)
	wantProblem(t, p, 401, "unauthorized")
	if now := time.Now(); now.Before(exp) {
		t.Fatalf("the stream ended at %s, before its token's expiry %s", now, exp)
	}
}

// TestEventsStreamEndsWithMembership: the events stream is guarded as
// the watch is.
func TestEventsStreamEndsWithMembership(t *testing.T) {
	t.Parallel()
	f := setup(t, func(d *v1.Deps) { d.Heartbeat = time.Hour })
	f.createApp(f.alice.token, "web", map[string]any{"image": "nginx"})
	st := f.stream(f.carol.token, "/api/paas/apps/web/events", "X-Paas-Organization", "acme")
	f.removeMember(f.acme.ID, f.carol)
	p, _ := st.endOf(wait)
	wantProblem(t, p, 404, "not-found")
}

// TestWatchEndsWhenUserDisabled: disabling a user behind the API's back
// ends its open streams, login token and API token alike.
func TestWatchEndsWhenUserDisabled(t *testing.T) {
	t.Parallel()
	f := setup(t, func(d *v1.Deps) { d.Heartbeat = time.Hour })
	tok, _ := f.apiToken(f.bob, nil)
	byToken := f.stream(tok, "/api/paas/watch")
	byToken.skipToSynced()
	byLogin := f.stream(f.bob.token, "/api/paas/watch")
	byLogin.skipToSynced()
	if _, err := f.s.Pool.Exec(context.Background(), `UPDATE paas_users SET disabled_at = now() WHERE id = $1`, f.bob.ID); err != nil {
		t.Fatal(err)
	}
	for _, st := range []*sseStream{byToken, byLogin} {
		p, _ := st.endOf(wait)
		wantProblem(t, p, 401, "unauthorized")
	}
}
