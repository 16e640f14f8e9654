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

// listCache keeps rendered pages of GET /api/paas/apps, each with the
// fingerprint (APIAppsFingerprint) of the state it was rendered from. A
// request is still authenticated and authorized first, then reads the
// current fingerprint (one cheap query) and reuses the page only when it
// is equal, so it never answers anything staler than an uncached read
// would. Rendering a page of 50 apps costs Postgres several times more
// than the fingerprint does. Least recently used pages are dropped.
type listCache struct {
	hits, misses atomic.Int64

	mu      sync.Mutex
	max     int
	entries map[listKey]*list.Element
	order   *list.List // front: most recently used
}

type listKey struct {
	org   uuid.UUID
	after string
	limit int
}

type listEntry struct {
	key       listKey
	fp        store.APIAppsFingerprintRow
	body      []byte
	gz        []byte    // body gzipped, for clients that accept it
	validated time.Time // when fp was last confirmed current (Deps.ListCacheMaxStale)
}

// maxCachedPage bounds the size of a page worth keeping.
const maxCachedPage = 1 << 20

func newListCache(max int) *listCache {
	return &listCache{max: max, entries: map[listKey]*list.Element{}, order: list.New()}
}

// get returns the page for key if it was rendered from state fp.
func (c *listCache) get(key listKey, fp store.APIAppsFingerprintRow) (*listEntry, bool) {
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
	return e, true
}

// fresh returns the page for key if its fingerprint was confirmed since
// the given time (Deps.ListCacheMaxStale).
func (c *listCache) fresh(key listKey, since time.Time) (*listEntry, bool) {
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
	if e.validated.Before(since) {
		return nil, false
	}
	c.hits.Add(1)
	c.order.MoveToFront(el)
	return e, true
}

// confirm records that key's page still matches the current state.
func (c *listCache) confirm(key listKey, at time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.entries[key]; ok {
		el.Value.(*listEntry).validated = at
	}
}

// forgetOrg drops an organization's pages after a write in this process,
// so its next list reads the database even with ListCacheMaxStale.
func (c *listCache) forgetOrg(org uuid.UUID) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, el := range c.entries {
		if k.org == org {
			c.order.Remove(el)
			delete(c.entries, k)
		}
	}
}

// put keeps a rendered page (and its gzipped form) and returns the entry.
func (c *listCache) put(key listKey, fp store.APIAppsFingerprintRow, body []byte, at time.Time) *listEntry {
	e := &listEntry{key: key, fp: fp, body: body, validated: at}
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
