package v1

import (
	"bytes"
	"compress/gzip"
	"container/list"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/google/uuid"

	"github.com/skypanel/paas/store"
)

// listCache keeps rendered pages of GET /api/paas/apps. A page is reused
// while it still shows the current state, which is known one of two ways:
// without asking Postgres, while freshness says no change of the
// organization's apps was announced since the page was read (and for at
// most Deps.CacheRecheck); or by comparing the fingerprint the page was
// rendered from (APIAppsFingerprint) with the current one, a query far
// cheaper than rendering 50 apps. Least recently used pages are dropped.
type listCache struct {
	hits, misses, renders atomic.Int64

	mu      sync.Mutex
	max     int
	entries map[listKey]*list.Element
	order   *list.List // front: most recently used
}

type listKey struct {
	org   uuid.UUID
	after string
	limit int
	// redacted pages (for viewers) are kept apart from those with env values.
	redacted bool
}

// listEntry is one page; it is never modified once cached (confirming it
// caches a copy), so it can be read without the cache's lock.
type listEntry struct {
	key    listKey
	fp     store.APIAppsFingerprintRow
	body   []byte
	gz     []byte    // body gzipped, for clients that accept it
	read   stamp     // when fp was last known current, for freshness
	readAt time.Time // the same, by the clock (Deps.CacheRecheck)
}

// maxCachedPage bounds the size of a page worth keeping.
const maxCachedPage = 1 << 20

func newListCache(max int) *listCache {
	return &listCache{max: max, entries: map[listKey]*list.Element{}, order: list.New()}
}

// current returns the page for key if freshness says it still shows the
// current state and it was confirmed less than recheck ago.
func (c *listCache) current(key listKey, fresh *freshness, now time.Time, recheck time.Duration) (*listEntry, bool) {
	if c == nil {
		return nil, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.entries[key]
	if !ok {
		return nil, false
	}
	e := el.Value.(*listEntry)
	if now.Sub(e.readAt) >= recheck || !fresh.orgCurrent(e.read, key.org) {
		return nil, false
	}
	c.hits.Add(1)
	c.order.MoveToFront(el)
	return e, true
}

// superseded reports whether key's page is known to be stale: a change of
// its organization was announced since it was read, so comparing
// fingerprints would only confirm that.
func (c *listCache) superseded(key listKey, fresh *freshness) bool {
	if c == nil {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.entries[key]
	if !ok {
		return false
	}
	e := el.Value.(*listEntry)
	return fresh.orgChanged(e.read, key.org)
}

// confirmed returns the page for key if it was rendered from state fp,
// and records that fp was current at read and now.
func (c *listCache) confirmed(key listKey, fp store.APIAppsFingerprintRow, read stamp, now time.Time) (*listEntry, bool) {
	if c == nil {
		return nil, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.entries[key]
	if !ok {
		c.misses.Add(1)
		return nil, false
	}
	e := el.Value.(*listEntry)
	if e.fp != fp {
		c.misses.Add(1)
		return nil, false
	}
	c.hits.Add(1)
	c.order.MoveToFront(el)
	// Entries are never modified once cached: others may be reading this one.
	cp := *e
	cp.read, cp.readAt = read, now
	el.Value = &cp
	return &cp, true
}

// put keeps a page rendered from state fp, read at read, and returns it.
func (c *listCache) put(key listKey, fp store.APIAppsFingerprintRow, body []byte, read stamp, now time.Time) *listEntry {
	e := &listEntry{key: key, fp: fp, body: body, read: read, readAt: now}
	if c == nil || len(body) > maxCachedPage {
		return e
	}
	e.gz = gzipped(body)
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.entries[key]; ok {
		el.Value = e
		c.order.MoveToFront(el)
		return e
	}
	c.entries[key] = c.order.PushFront(e)
	for c.order.Len() > c.max {
		old := c.order.Back()
		c.order.Remove(old)
		delete(c.entries, old.Value.(*listEntry).key)
	}
	return e
}

// gzipped compresses a page worth compressing; nil otherwise.
func gzipped(body []byte) []byte {
	if len(body) < 1024 {
		return nil
	}
	var b bytes.Buffer
	w, _ := gzip.NewWriterLevel(&b, gzip.BestSpeed)
	_, _ = w.Write(body)
	if w.Close() != nil {
		return nil
	}
	return b.Bytes()
}

// write answers the page, gzipped when the client accepts it.
func (e *listEntry) write(c echo.Context) error {
	h := c.Response().Header()
	h.Set(echo.HeaderContentType, echo.MIMEApplicationJSON)
	h.Add("Vary", "Accept-Encoding")
	body := e.body
	if acceptsGzip(c.Request().Header.Get("Accept-Encoding")) {
		gz := e.gz
		if gz == nil {
			gz = gzipped(body)
		}
		if gz != nil {
			h.Set("Content-Encoding", "gzip")
			body = gz
		}
	}
	h.Set(echo.HeaderContentLength, strconv.Itoa(len(body)))
	c.Response().WriteHeader(http.StatusOK)
	_, err := c.Response().Write(body)
	return err
}

func acceptsGzip(header string) bool {
	for _, part := range strings.Split(header, ",") {
		coding, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if !strings.EqualFold(strings.TrimSpace(coding), "gzip") {
			continue
		}
		if q, ok := strings.CutPrefix(strings.TrimSpace(params), "q="); ok {
			if v, err := strconv.ParseFloat(q, 64); err == nil && v == 0 {
				return false
			}
		}
		return true
	}
	return false
}
