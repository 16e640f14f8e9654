package v1_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	v1 "github.com/skypanel/paas/api/v1"
)

// lokiLine is one line the stand-in holds.
type lokiLine struct {
	ts     int64
	labels map[string]string
	line   string
}

// fakeLoki stands in for Loki's HTTP API: it records every request and
// answers query_range in Loki's documented JSON (resultType streams, one
// entry per label set, values as ["<ns>", "<line>"]), with the lines it
// holds between start and end, limit of them from the direction's end. It
// does not evaluate LogQL: the tests check the query text itself.
type fakeLoki struct {
	*httptest.Server
	mu       sync.Mutex
	lines    []lokiLine
	requests []*http.Request
	queries  []url.Values
}

func newFakeLoki(t *testing.T) *fakeLoki {
	l := &fakeLoki{}
	l.Server = httptest.NewServer(http.HandlerFunc(l.serve))
	t.Cleanup(l.Close)
	return l
}

func (l *fakeLoki) add(ts time.Time, stream, line string, labels map[string]string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	lb := map[string]string{"stream": stream}
	for k, v := range labels {
		lb[k] = v
	}
	l.lines = append(l.lines, lokiLine{ts.UnixNano(), lb, line})
}

func (l *fakeLoki) recorded() []url.Values {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.queries)
}

func (l *fakeLoki) serve(w http.ResponseWriter, r *http.Request) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.requests = append(l.requests, r)
	if r.URL.Path != "/loki/api/v1/query_range" {
		http.Error(w, "404 page not found", http.StatusNotFound)
		return
	}
	q := r.URL.Query()
	l.queries = append(l.queries, q)
	start, err1 := strconv.ParseInt(q.Get("start"), 10, 64)
	end, err2 := strconv.ParseInt(q.Get("end"), 10, 64)
	limit, err3 := strconv.Atoi(q.Get("limit"))
	if err1 != nil || err2 != nil || err3 != nil || q.Get("query") == "" {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	var sel []lokiLine
	for _, ln := range l.lines {
		if ln.ts >= start && ln.ts <= end {
			sel = append(sel, ln)
		}
	}
	sort.SliceStable(sel, func(i, j int) bool { return sel[i].ts < sel[j].ts })
	if q.Get("direction") == "backward" {
		slices.Reverse(sel)
	}
	if len(sel) > limit {
		sel = sel[:limit]
	}
	type stream struct {
		Stream map[string]string `json:"stream"`
		Values [][2]string       `json:"values"`
	}
	var streams []*stream
	byKey := map[string]*stream{}
	for _, ln := range sel {
		b, _ := json.Marshal(ln.labels)
		s := byKey[string(b)]
		if s == nil {
			s = &stream{Stream: ln.labels}
			byKey[string(b)] = s
			streams = append(streams, s)
		}
		s.Values = append(s.Values, [2]string{strconv.FormatInt(ln.ts, 10), ln.line})
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"status": "success",
		"data": map[string]any{
			"resultType": "streams", "result": streams,
			"stats": map[string]any{"summary": map[string]any{"totalLinesProcessed": len(sel)}},
		},
	})
}

// TestLogsFromLokiGolden pins the exact request the API sends Loki: path,
// parameter names, the LogQL with Promtail's label names, and the range.
func TestLogsFromLokiGolden(t *testing.T) {
	t.Parallel()
	loki := newFakeLoki(t)
	f := setup(t, func(d *v1.Deps) { d.Loki = loki.URL + "/" })
	a := f.createApp(f.alice.token, "web", map[string]any{"image": "nginx"})
	id := a.Id.String()
	lab := map[string]string{"app_id": id, "org_id": f.acme.ID.String(), "service": "x"}
	base := time.Now().Add(-90 * time.Minute).Truncate(time.Second)
	loki.add(base.Add(2*time.Second), "stderr", "ERROR boom two", lab)
	loki.add(base, "stdout", "error boom one", lab)
	loki.add(base.Add(time.Second), "stderr", "error boom between", lab)

	r := f.do(f.alice.token, "GET", "/api/paas/apps/web/logs?since=2h&until=1h&limit=50&direction=forward&grep=boom&level=error&stream=stderr&timestamps=true", nil).want(200)
	q := loki.recorded()
	if len(q) != 1 {
		t.Fatalf("%d requests, want 1", len(q))
	}
	var keys []string
	for k := range q[0] {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	if strings.Join(keys, ",") != "direction,end,limit,query,start" {
		t.Fatalf("parameters %v", keys)
	}
	wantQuery := `{app_id="` + id + `", stream="stderr"} |= "boom" |~ "(?i)\\b(error|err|fatal|panic|crit|critical)\\b"`
	if got := q[0].Get("query"); got != wantQuery {
		t.Fatalf("query\n%s\nwant\n%s", got, wantQuery)
	}
	if q[0].Get("limit") != "50" || q[0].Get("direction") != "forward" {
		t.Fatalf("limit/direction %v", q[0])
	}
	start, _ := strconv.ParseInt(q[0].Get("start"), 10, 64)
	end, _ := strconv.ParseInt(q[0].Get("end"), 10, 64)
	if time.Duration(end-start) != time.Hour || time.Since(time.Unix(0, start)) < 2*time.Hour || time.Since(time.Unix(0, start)) > 2*time.Hour+10*time.Second {
		t.Fatalf("range %s .. %s", time.Unix(0, start), time.Unix(0, end))
	}
	// Streams merged by time, timestamps as Docker writes them.
	want := fmt.Sprintf("%s error boom one\n%s error boom between\n%s ERROR boom two\n",
		base.UTC().Format(time.RFC3339Nano), base.Add(time.Second).UTC().Format(time.RFC3339Nano), base.Add(2*time.Second).UTC().Format(time.RFC3339Nano))
	if string(r.Body) != want {
		t.Fatalf("body\n%s\nwant\n%s", r.Body, want)
	}

	// Defaults: the newest 100 lines of the last hour, the bare selector.
	f.do(f.alice.token, "GET", "/api/paas/apps/web/logs", nil).want(200)
	q = loki.recorded()
	last := q[len(q)-1]
	if last.Get("query") != `{app_id="`+id+`"}` || last.Get("limit") != "100" || last.Get("direction") != "backward" {
		t.Fatalf("default request %v", last)
	}

	// Another organization's app is not found; Loki is not asked.
	n := len(loki.recorded())
	f.do(f.bob.token, "GET", "/api/paas/apps/"+id+"/logs", nil).problem(404, "not-found")
	if len(loki.recorded()) != n {
		t.Fatal("Loki was asked for another organization's app")
	}
	// Bounds and bad values.
	f.do(f.alice.token, "GET", "/api/paas/apps/web/logs?since=2000h&until=1h", nil).problem(422, "validation-failed")
	f.do(f.alice.token, "GET", "/api/paas/apps/web/logs?limit=5001", nil).problem(400, "malformed-request")
	f.do(f.alice.token, "GET", "/api/paas/apps/web/logs?level=loud", nil).problem(400, "malformed-request")
	f.do(f.alice.token, "GET", "/api/paas/apps/web/logs?grep="+strings.Repeat("x", 300), nil).problem(400, "malformed-request")
	f.do(f.alice.token, "GET", "/api/paas/apps/web/logs?follow=true&until=1h", nil).problem(422, "validation-failed")
}

// TestLogsFromLokiFollow: a follow delivers lines written after it
// started, in order, and stops asking Loki when the client goes.
func TestLogsFromLokiFollow(t *testing.T) {
	t.Parallel()
	loki := newFakeLoki(t)
	f := setup(t, func(d *v1.Deps) { d.Loki = loki.URL; d.LokiPoll = 20 * time.Millisecond })
	a := f.createApp(f.alice.token, "web", map[string]any{"image": "nginx"})
	lab := map[string]string{"app_id": a.Id.String()}
	old := time.Now().Add(-time.Minute)
	loki.add(old, "stdout", "before 1", lab)
	loki.add(old.Add(time.Millisecond), "stdout", "before 2", lab)

	st := f.stream(f.alice.token, "/api/paas/apps/web/logs?follow=true&tail=1")
	if ev := st.next(5 * time.Second); ev.Data != "before 2" || ev.Event != "stdout" || ev.ID != strconv.FormatInt(old.Add(time.Millisecond).UnixNano(), 10) {
		t.Fatalf("first event %+v, want the last line before the follow", ev)
	}
	waitFor(t, "the follow to poll", func() bool { return len(loki.recorded()) >= 2 })
	for i := range 5 {
		stream := "stdout"
		if i%2 == 1 {
			stream = "stderr"
		}
		loki.add(time.Now(), stream, fmt.Sprintf("after %d", i), lab)
	}
	for i := range 5 {
		ev := st.next(5 * time.Second)
		if ev.Data != fmt.Sprintf("after %d", i) {
			t.Fatalf("event %d: %+v", i, ev)
		}
		if (i%2 == 1) != (ev.Event == "stderr") {
			t.Fatalf("event %d on %s", i, ev.Event)
		}
	}
	// More lines than one poll asks for (1000) arrive in order too.
	burst := time.Now()
	for i := range 1500 {
		loki.add(burst.Add(time.Duration(i)*time.Microsecond), "stdout", fmt.Sprintf("burst %d", i), lab)
	}
	for i := range 1500 {
		if ev := st.next(5 * time.Second); ev.Data != fmt.Sprintf("burst %d", i) {
			t.Fatalf("burst line %d: %+v", i, ev)
		}
	}
	// Polls after the first ask forward from the last line delivered.
	q := loki.recorded()
	if p := q[len(q)-1]; p.Get("direction") != "forward" || p.Get("query") != `{app_id="`+a.Id.String()+`"}` {
		t.Fatalf("poll %v", p)
	}
	if f.api.LokiFollowers() != 1 {
		t.Fatalf("%d followers", f.api.LokiFollowers())
	}
	st.close()
	waitFor(t, "the follow to end with its client", func() bool { return f.api.LokiFollowers() == 0 })
	n := len(loki.recorded())
	// With no follower left nothing can poll; a new read is the next request.
	f.do(f.alice.token, "GET", "/api/paas/apps/web/logs", nil).want(200)
	if len(loki.recorded()) != n+1 {
		t.Fatalf("Loki got %d requests after the follow ended, want only the read", len(loki.recorded())-n)
	}

	// Resuming with Last-Event-ID starts after that line.
	st2 := f.stream(f.alice.token, "/api/paas/apps/web/logs?follow=true", "Last-Event-ID", strconv.FormatInt(old.UnixNano(), 10))
	if ev := st2.next(5 * time.Second); ev.Data != "before 2" {
		t.Fatalf("resumed at %+v", ev)
	}
}

// TestLogsLokiUnavailable: Loki down, failing or slow is a 502 naming it.
func TestLogsLokiUnavailable(t *testing.T) {
	t.Parallel()
	down := httptest.NewServer(http.NotFoundHandler())
	down.Close()
	failing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "too many outstanding requests", http.StatusTooManyRequests)
	}))
	t.Cleanup(failing.Close)
	block := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-block:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(func() { close(block); slow.Close() })
	for _, tc := range []struct{ url, detail string }{
		{down.URL, "Loki at " + down.URL},
		{failing.URL, "429"},
		{slow.URL, "did not answer within 300ms"},
	} {
		f := setup(t, func(d *v1.Deps) { d.Loki = tc.url; d.UpstreamTimeout = 300 * time.Millisecond })
		f.createApp(f.alice.token, "web", map[string]any{"image": "nginx"})
		p := f.do(f.alice.token, "GET", "/api/paas/apps/web/logs", nil).problem(502, "upstream-unavailable")
		if !strings.Contains(p.Detail, tc.detail) {
			t.Errorf("detail %q, want %q in it", p.Detail, tc.detail)
		}
		f.do(f.alice.token, "GET", "/api/paas/apps/web/logs?follow=true", nil, "Accept", "text/event-stream").problem(502, "upstream-unavailable")
	}
}
