package v1

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/skypanel/paas/api/problem"
)

// streamGuard ends a stream when the credential it was opened with no
// longer lets its caller read it: the token was revoked or expired, the
// user was disabled or lost its membership, the organization was deleted,
// or the caller's role there changed (what a stream shows depends on it).
//
// Authentication runs once per request, and a stream is one request that
// lasts for hours, so the guard asks again: on every heartbeat, on every
// credentials change announced on changesChannel (and after the listener
// reconnects, as announcements may have been lost), and at the token's
// expiry, with or without a heartbeat. Re-asking goes through the same
// code as the authentication middleware, cache included: the cache is
// only used while no credentials change was announced since it was read.
type streamGuard struct {
	s *server
	// c is a private echo context over the stream's request, so the
	// guard's goroutine never shares the handler's (echo contexts cache
	// query parameters without locking).
	c       echo.Context
	token   string
	org     uuid.UUID
	role    string
	expires time.Time // zero: the token does not expire

	// ctx is the stream's context: canceled with the problem that ended
	// the credential, or when the client leaves.
	ctx    context.Context
	cancel context.CancelCauseFunc
	done   chan struct{} // closed when the guard's goroutine returns
}

// guardStream starts guarding the stream c serves for the organization the
// request was authenticated in; the stream must use g.ctx and call g.stop
// when it ends.
func (s *server) guardStream(c echo.Context) (*streamGuard, error) {
	token, err := bearerToken(c.Request())
	if err != nil {
		return nil, err
	}
	o := org(c)
	exp, err := s.credentialExpiry(c.Request().Context(), token)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancelCause(c.Request().Context())
	g := &streamGuard{s: s, token: token, org: o.ID, role: o.Role, expires: exp,
		ctx: ctx, cancel: cancel, done: make(chan struct{})}
	g.c = c.Echo().NewContext(c.Request().WithContext(ctx), nil)
	go g.run()
	return g, nil
}

// credentialExpiry is when token stops being valid (zero: never). The
// middleware already verified it; this only reads when it ends.
func (s *server) credentialExpiry(ctx context.Context, token string) (time.Time, error) {
	if strings.HasPrefix(token, apiTokenPrefix) {
		r, err := s.Store.APIAuthToken(ctx, hashToken(token))
		if err != nil {
			return time.Time{}, err
		}
		if r.ExpiresAt == nil {
			return time.Time{}, nil
		}
		return *r.ExpiresAt, nil
	}
	var cl jwt.RegisteredClaims
	if _, _, err := jwt.NewParser().ParseUnverified(token, &cl); err != nil || cl.ExpiresAt == nil {
		return time.Time{}, problem.Unauthorized("the token is not valid")
	}
	return cl.ExpiresAt.Time, nil
}

// run re-checks the credential until it fails or the stream ends.
func (g *streamGuard) run() {
	defer close(g.done)
	var expired <-chan time.Time
	if !g.expires.IsZero() {
		t := time.NewTimer(g.expires.Sub(g.s.Now()))
		defer t.Stop()
		expired = t.C
	}
	beat := time.NewTicker(g.s.Heartbeat)
	defer beat.Stop()
	for {
		// Taken before the check, so a change announced during it wakes
		// the next one.
		changed := g.s.fresh.authChanged()
		err := g.s.streams.read(g.ctx, g.check)
		if g.ctx.Err() != nil {
			return
		}
		if err != nil {
			var p *problem.Problem
			if !errors.As(err, &p) {
				g.s.log.Warn().Err(err).Msg("stream: re-checking the caller's credential")
			}
			g.cancel(err)
			return
		}
		select {
		case <-g.ctx.Done():
			return
		case <-expired:
			g.cancel(expiredProblem())
			return
		case <-beat.C:
		case <-changed:
		}
	}
}

func expiredProblem() *problem.Problem {
	return problem.Unauthorized("the token has expired: the stream ended with it")
}

// check reports why the credential no longer allows the stream, or nil.
// An error reading the database ends the stream too: a stream that cannot
// confirm its caller fails closed, and the client resumes it.
func (g *streamGuard) check() error {
	if !g.expires.IsZero() && !g.s.Now().Before(g.expires) {
		return expiredProblem()
	}
	var p *principal
	var err error
	if strings.HasPrefix(g.token, apiTokenPrefix) {
		p, err = g.s.authAPIToken(g.c, g.token, scopeOrganization)
	} else {
		p, err = g.s.authJWT(g.c, g.token, scopeOrganization)
	}
	switch {
	case g.ctx.Err() != nil:
		return nil // the stream ended meanwhile; run sees it
	case err != nil:
		return err
	case p.Org == nil || p.Org.ID != g.org:
		// The selector (a slug) now names another organization: this one
		// was deleted or renamed.
		return problem.NotFound("the organization of this stream no longer exists for you")
	case p.Org.Role != g.role:
		return problem.Forbidden(fmt.Sprintf("your role in this organization changed from %s to %s: open the stream again", g.role, p.Org.Role))
	}
	return nil
}

// ended is the problem that ended the stream's credential, or nil when the
// stream ended otherwise (the client left).
func (g *streamGuard) ended() *problem.Problem {
	var p *problem.Problem
	if errors.As(context.Cause(g.ctx), &p) {
		return p
	}
	if err := context.Cause(g.ctx); err != nil && !errors.Is(err, context.Canceled) {
		return problem.Internal()
	}
	return nil
}

// stop ends the guard and waits for its goroutine.
func (g *streamGuard) stop() {
	g.cancel(context.Canceled)
	<-g.done
}

// authChanged returns a channel closed at the next announced change of
// credentials, or when the listener (re)connects or goes down, as
// announcements may have been lost.
func (f *freshness) authChanged() <-chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.authWake == nil {
		f.authWake = make(chan struct{})
	}
	return f.authWake
}

// wakeAuth wakes every authChanged waiter; the caller holds f.mu.
func (f *freshness) wakeAuth() {
	if f.authWake != nil {
		close(f.authWake)
		f.authWake = nil
	}
}
