package v1

import "github.com/google/uuid"

// LoginTokenFor signs a login token as POST /api/auth/login would, without
// paying for bcrypt in every test's setup.
func (a *API) LoginTokenFor(userID uuid.UUID) string {
	tok, _, err := a.s.issueJWT(userID, 0)
	if err != nil {
		panic(err)
	}
	return tok
}

// ParseDotenv and FormatDotenv expose the dotenv codec to tests.
var (
	ParseDotenv  = parseDotenv
	FormatDotenv = formatDotenv
)

// ListCacheStats reports the list cache's hits and misses.
func (a *API) ListCacheStats() (hits, misses int64) {
	return a.s.lists.hits.Load(), a.s.lists.misses.Load()
}

// Following reports whether Run is following change notifications.
func (a *API) Following() bool {
	return a.s.fresh.now().valid
}

// PretendFollowing marks the change listener connected without running
// one: no notification will ever arrive, so only this process's own writes
// can make a cached answer stale.
func (a *API) PretendFollowing() {
	a.s.fresh.setLive(true)
}

// PagesRendered reports how many pages of GET /api/paas/apps were rendered
// for the cache.
func (a *API) PagesRendered() int64 {
	return a.s.lists.renders.Load()
}

// LokiFollowers reports how many Loki follows are running.
func (a *API) LokiFollowers() int64 {
	return a.s.lokiFollowers.Load()
}
