package v1

import (
	"cmp"
	"context"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/skypanel/paas/api/problem"
)

// StreamLimits bounds the long-lived answers (watch, event and log
// streams) of one API process; zero fields take their defaults.
type StreamLimits struct {
	// PerUser caps one user's open streams (default 32); more are refused
	// with 429 limit-exceeded.
	PerUser int
	// PerOrganization caps the open streams of one organization's members
	// together (default 128); more are refused with 429 limit-exceeded.
	PerOrganization int
	// WriteTimeout bounds the sending of one message (default 30s): a
	// client that stops reading for longer loses its stream.
	WriteTimeout time.Duration
	// DatabaseShare caps the database reads the open streams run at once
	// (re-reading a watch, re-checking a credential); default a quarter of
	// the pool's connections, at least one. However many streams wake
	// together, the rest of the pool stays free for requests and the
	// reconcilers: the stream caps can never exhaust it.
	DatabaseShare int
}

// withDefaults fills the zero fields.
func (l StreamLimits) withDefaults() StreamLimits {
	l.PerUser = cmp.Or(max(l.PerUser, 0), 32)
	l.PerOrganization = cmp.Or(max(l.PerOrganization, 0), 128)
	l.WriteTimeout = cmp.Or(max(l.WriteTimeout, 0), 30*time.Second)
	return l
}

// streamSlots counts the open streams per user and per organization.
// Each stream holds a goroutine, a share of the LISTEN fan-out and, for
// logs, a Docker connection until its client leaves, so one tenant must
// not be able to open them without bound.
type streamSlots struct {
	limits StreamLimits
	mu     sync.Mutex
	users  map[uuid.UUID]int
	orgs   map[uuid.UUID]int
	// db holds a token per stream read under way (DatabaseShare of them).
	db chan struct{}
}

// newStreamSlots builds the slots; poolSize is the database pool's size,
// from which DatabaseShare defaults.
func newStreamSlots(l StreamLimits, poolSize int) *streamSlots {
	l = l.withDefaults()
	if l.DatabaseShare <= 0 {
		l.DatabaseShare = max(poolSize/4, 1)
	}
	return &streamSlots{limits: l, users: map[uuid.UUID]int{}, orgs: map[uuid.UUID]int{},
		db: make(chan struct{}, l.DatabaseShare)}
}

// read runs fn, one of a stream's database reads, once a share of the
// pool is free for streams; it gives up when ctx ends.
func (l *streamSlots) read(ctx context.Context, fn func() error) error {
	select {
	case l.db <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-l.db }()
	return fn()
}

// acquire takes a slot for a stream of user in org, or answers why not;
// release gives it back (once).
func (l *streamSlots) acquire(user, org uuid.UUID) (release func(), err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if n := l.users[user]; n >= l.limits.PerUser {
		return nil, streamLimitProblem("max_streams_per_user", l.limits.PerUser, n, "you")
	}
	if n := l.orgs[org]; n >= l.limits.PerOrganization {
		return nil, streamLimitProblem("max_streams_per_organization", l.limits.PerOrganization, n, "this organization's members")
	}
	l.users[user]++
	l.orgs[org]++
	var once sync.Once
	return func() { once.Do(func() { l.release(user, org) }) }, nil
}

func (l *streamSlots) release(user, org uuid.UUID) {
	l.mu.Lock()
	defer l.mu.Unlock()
	decrement(l.users, user)
	decrement(l.orgs, org)
}

// decrement lowers a count, forgetting it at zero so the maps only hold
// open streams.
func decrement(m map[uuid.UUID]int, k uuid.UUID) {
	if m[k] <= 1 {
		delete(m, k)
		return
	}
	m[k]--
}

func streamLimitProblem(limit string, value, current int, who string) *problem.Problem {
	p := problem.LimitExceeded(http.StatusTooManyRequests, limit, int64(value), int64(current),
		fmt.Sprintf("%s have %d streams (watch, events, logs) open on this server, the most allowed: close one first", who, current))
	p.RetryAfter = 5 * time.Second
	return p
}

// stream is one open SSE answer of an organization-scoped route: its slot,
// the guard that ends it with its caller's credential, and, once started,
// its writer. Handlers use ctx, not the request's context.
type stream struct {
	s       *server
	ctx     context.Context
	guard   *streamGuard
	release func()
	w       *sseWriter // nil until start
}

// openStream takes a stream slot for the caller and starts guarding its
// credential; nothing is written yet, so the handler may still answer a
// problem. The caller must close the stream.
func (s *server) openStream(c echo.Context) (*stream, error) {
	p := caller(c)
	release, err := s.streams.acquire(p.UserID, p.Org.ID)
	if err != nil {
		return nil, err
	}
	g, err := s.guardStream(c)
	if err != nil {
		release()
		return nil, err
	}
	return &stream{s: s, ctx: g.ctx, guard: g, release: release}, nil
}

// start commits the 200 event-stream answer.
func (st *stream) start(c echo.Context) *sseWriter {
	st.w = startSSE(c, st.s.streams.limits.WriteTimeout)
	return st.w
}

// close ends the stream; when its credential ended it, the last message
// (event end) says why, so the client knows not to reconnect with it.
func (st *stream) close() {
	if p := st.guard.ended(); p != nil && st.w != nil {
		_ = st.w.end(p)
	}
	st.guard.stop()
	st.release()
}
