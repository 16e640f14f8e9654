package v1

import (
	"context"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/skypanel/paas/store/key"
	"github.com/skypanel/paas/store/pgnotify"
)

// changesChannel is the Postgres channel on which triggers announce which
// cached answers went stale (schema/00002_api_changes.sql): "org/<uuid>",
// "auth" or "all".
const changesChannel = "paas_api"

// freshness tells a cached answer from a stale one without asking Postgres.
//
// It numbers events in one sequence: every change announced on
// changesChannel, every (re)connect and disconnect of the listener, and
// every write through this process. A cached answer is stamped with the
// sequence number read before the database was (stamp), and stays current
// while nothing it shows has changed since: no announced change of its
// organization (or, for credentials, of any user, membership or token), and
// no event that invalidates everything (floor). Notifications sent while
// the listener is down are lost, so reconnects raise the floor, and while it
// is down nothing is current and every request reads the database.
//
// An answer is therefore as fresh as an uncached read except for the time a
// notification takes to arrive after its commit; writes through this
// process invalidate before their response is sent, so a client always
// reads its own writes. Entries are also re-read after Deps.CacheRecheck
// whatever the notifications say, which bounds what a stuck listener could
// hide.
type freshness struct {
	mu sync.Mutex
	// live is true while the listener is LISTENing.
	live bool
	// seq is the number of the latest event; it only grows.
	seq uint64
	// floor is the seq of the latest event that invalidated everything;
	// stamps below it are stale.
	floor uint64
	// auth is the seq of the latest change of credentials.
	auth uint64
	// orgs is the seq of the latest change of each organization's apps,
	// for changes since floor (older ones no longer matter).
	orgs map[uuid.UUID]uint64
	// authWake is closed at the next credentials change (authChanged).
	authWake chan struct{}
}

// stamp is the sequence number an answer was read at; valid is false when
// the answer cannot be cached on notifications (listener down).
type stamp struct {
	seq   uint64
	valid bool
}

func newFreshness() *freshness { return &freshness{orgs: map[uuid.UUID]uint64{}} }

// now stamps an answer about to be read from the database.
func (f *freshness) now() stamp {
	f.mu.Lock()
	defer f.mu.Unlock()
	return stamp{seq: f.seq, valid: f.live}
}

// orgCurrent reports whether an answer about org's apps stamped st still
// shows the current state.
func (f *freshness) orgCurrent(st stamp, org uuid.UUID) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.current(st) && f.orgs[org] <= st.seq
}

// freshFor reports whether an answer about org's apps read at read may
// serve a request that arrived at arrived: it was read after the request
// arrived, or nothing it shows was announced since it was read.
func (f *freshness) freshFor(read, arrived stamp, org uuid.UUID) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.current(read) && arrived.valid && (read.seq >= arrived.seq || f.orgs[org] <= read.seq)
}

// orgChanged reports whether a change of org's apps was announced since
// st, a stamp otherwise still current.
func (f *freshness) orgChanged(st stamp, org uuid.UUID) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.current(st) && f.orgs[org] > st.seq
}

// authCurrent reports whether credentials read at st are still current.
func (f *freshness) authCurrent(st stamp) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.current(st) && f.auth <= st.seq
}

// current reports whether nothing that invalidates everything happened
// since st; the caller holds f.mu.
func (f *freshness) current(st stamp) bool {
	return st.valid && f.live && st.seq >= f.floor
}

// handle records one notification of changesChannel.
func (f *freshness) handle(payload string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.seq++
	switch {
	case payload == "auth":
		f.auth = f.seq
		f.wakeAuth()
	default:
		// org/<uuid>; "all", or anything this version does not know,
		// makes every cached answer stale.
		if k, err := key.Parse(payload); err == nil && k.Kind == key.KindOrg {
			if id, err := k.UUID(); err == nil {
				f.orgs[id] = f.seq
				return
			}
		}
		f.raiseFloor()
	}
}

// setLive records the listener (re)connecting or going down; either way
// notifications may have been missed.
func (f *freshness) setLive(live bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.seq++
	f.live = live
	f.raiseFloor()
	f.wakeAuth()
}

// invalidate makes every cached answer stale: a write went through this
// process, and its notification may not have arrived yet.
func (f *freshness) invalidate() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.seq++
	f.raiseFloor()
}

// invalidateOrg makes the cached answers about one organization's apps
// stale: a write to them went through this process.
func (f *freshness) invalidateOrg(org uuid.UUID) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.seq++
	f.orgs[org] = f.seq
}

func (f *freshness) raiseFloor() {
	f.floor = f.seq
	clear(f.orgs)
}

// follow keeps f up to date from changesChannel until ctx ends.
func (f *freshness) follow(ctx context.Context, connect func(context.Context) (*pgx.Conn, error), reconnectDelay time.Duration) error {
	l := &pgnotify.Listener{
		Connect:        connect,
		Channels:       []string{changesChannel},
		Handle:         func(_ context.Context, _, payload string) { f.handle(payload) },
		OnConnect:      func(context.Context) { f.setLive(true) },
		OnDisconnect:   func() { f.setLive(false) },
		ReconnectDelay: reconnectDelay,
	}
	return l.Run(ctx)
}
