package v1

import (
	"sync"
	"time"

	"github.com/google/uuid"
)

// credCache remembers who a credential is and which organization it acts
// in, so repeated requests with the same token skip the authentication
// query. An entry is used only while freshness says no user, membership,
// organization or token changed since it was read, and for at most
// Deps.CacheRecheck; anything else reads the database. Only successes are
// kept: a refused credential is looked up again on every request.
type credCache struct {
	mu sync.Mutex
	m  map[credKey]*credEntry
}

// credKey is one credential asking in one organization selector.
type credKey struct {
	// id is the user id of a login token or the hash of an API token.
	id       [32]byte
	apiToken bool
	selector string
	// org is true for organization-scoped requests, whose principal
	// carries the organization.
	org bool
}

type credEntry struct {
	p        principal // without appsFP
	tokenID  uuid.UUID // API tokens
	expires  *time.Time
	lastUsed time.Time // API tokens: last_used_at as last written
	read     stamp
	readAt   time.Time
}

// maxCredEntries bounds the cache; it is emptied when full, which only
// costs a database read per credential.
const maxCredEntries = 10000

func jwtCredKey(user uuid.UUID, sel string, sc scope) credKey {
	k := newCredKey(sel, sc)
	copy(k.id[:], user[:])
	return k
}

func apiTokenCredKey(hash []byte, sel string, sc scope) credKey {
	k := newCredKey(sel, sc)
	k.apiToken = true
	copy(k.id[:], hash)
	return k
}

func newCredKey(sel string, sc scope) credKey {
	if sc < scopeOrganization {
		// The selector does not matter outside organization routes.
		return credKey{}
	}
	return credKey{selector: sel, org: true}
}

// get returns the entry for k if fresh says it is current and it was read
// less than recheck ago.
func (c *credCache) get(k credKey, fresh *freshness, now time.Time, recheck time.Duration) (*credEntry, bool) {
	c.mu.Lock()
	e, ok := c.m[k]
	c.mu.Unlock()
	if !ok || now.Sub(e.readAt) >= recheck || !fresh.authCurrent(e.read) {
		return nil, false
	}
	return e, true
}

// put keeps an entry read at st (ignored when st cannot be cached).
func (c *credCache) put(k credKey, e *credEntry) {
	if !e.read.valid {
		return
	}
	e.p.appsFP = nil
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= maxCredEntries {
		c.m = make(map[credKey]*credEntry)
	}
	c.m[k] = e
}

// touched records that an API token's last_used_at was written at t.
func (c *credCache) touched(k credKey, t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.m[k]; ok {
		cp := *e
		cp.lastUsed = t
		c.m[k] = &cp
	}
}

// principal returns a copy of the cached caller for one request.
func (e *credEntry) principal() *principal {
	p := e.p
	if p.Org != nil {
		o := *p.Org
		p.Org = &o
	}
	return &p
}
