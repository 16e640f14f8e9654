package v1_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/rs/zerolog"

	"github.com/skypanel/paas/api"
	"github.com/skypanel/paas/api/openapi"
	"github.com/skypanel/paas/api/problem"
	v1 "github.com/skypanel/paas/api/v1"
	"github.com/skypanel/paas/store"
)

// endlessLogs is a Docker log stream that never ends: the same frame for
// ever, until it is closed. It records each close, so a test can tell the
// API released the stream.
type endlessLogs struct {
	frame  []byte
	mu     sync.Mutex
	opened int
	closed chan struct{} // one value per Close
}

func newEndlessLogs() *endlessLogs {
	return &endlessLogs{frame: frames(strings.Repeat("y", 1000) + "\n"), closed: make(chan struct{}, 16)}
}

func (e *endlessLogs) ServiceLogs(context.Context, string, container.LogsOptions) (io.ReadCloser, error) {
	e.mu.Lock()
	e.opened++
	e.mu.Unlock()
	return &endlessReader{src: e, done: make(chan struct{})}, nil
}

type endlessReader struct {
	src  *endlessLogs
	once sync.Once
	done chan struct{}
	off  int
}

func (r *endlessReader) Read(p []byte) (int, error) {
	select {
	case <-r.done:
		return 0, io.ErrClosedPipe
	default:
	}
	n := 0
	for n < len(p) {
		c := copy(p[n:], r.src.frame[r.off:])
		n += c
		r.off = (r.off + c) % len(r.src.frame)
	}
	return n, nil
}

func (r *endlessReader) Close() error {
	r.once.Do(func() { close(r.done); r.src.closed <- struct{}{} })
	return nil
}

// TestLogStreamEndsWhenClientStopsReading: a client that asks to follow
// an app's endless log and then stops reading fills the connection; the
// write deadline ends the stream, which closes the Docker log stream and
// gives back the caller's stream slot (the cap is one).
func TestLogStreamEndsWhenClientStopsReading(t *testing.T) {
	t.Parallel()
	docker := newEndlessLogs()
	f := setup(t, func(d *v1.Deps) {
		d.Docker = docker
		d.Streams = v1.StreamLimits{PerUser: 1, WriteTimeout: 300 * time.Millisecond}
	})
	f.createApp(f.alice.token, "web", map[string]any{"image": "nginx"})

	conn, err := net.Dial("tcp", strings.TrimPrefix(f.srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// A small receive buffer, so the server's writes block soon.
	_ = conn.(*net.TCPConn).SetReadBuffer(4096)
	_, err = io.WriteString(conn, "GET /api/paas/apps/web/logs?follow=true HTTP/1.1\r\nHost: paas\r\n"+
		"Authorization: Bearer "+f.alice.token+"\r\nAccept: text/event-stream\r\n\r\n")
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReaderSize(conn, 16), nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("follow: %v %v", resp, err)
	}
	// The client reads nothing more.
	select {
	case <-docker.closed:
	case <-time.After(wait):
		t.Fatalf("the server still holds the Docker log stream %s after the client stopped reading", wait)
	}
	// The slot is free again once the handler has returned (just after it
	// closed the Docker stream): the same user may follow again.
	var again *http.Response
	waitFor(t, "the stream slot to be given back", func() bool {
		req, _ := http.NewRequest("GET", f.srv.URL+"/api/paas/apps/web/logs?follow=true", nil)
		req.Header.Set("Authorization", "Bearer "+f.alice.token)
		req.Header.Set("Accept", "text/event-stream")
		r, err := f.srv.Client().Do(req)
		if err != nil {
			return false
		}
		if r.StatusCode != http.StatusOK {
			r.Body.Close()
			return false
		}
		again = r
		return true
	})
	defer again.Body.Close()
	// The endless log streams at once: its first event is a stdout line.
	sc := bufio.NewScanner(again.Body)
	first := ""
	for first == "" && sc.Scan() {
		if line := sc.Text(); strings.HasPrefix(line, "event: ") {
			first = line
		}
	}
	if first != "event: stdout" {
		t.Fatalf("first event %q (%v), want stdout", first, sc.Err())
	}
}

// tryStream opens a stream and answers its status; a 200 stream is kept
// open until the returned func closes it.
func (f *fixture) tryStream(token, path string, hdrs ...string) (int, func()) {
	f.t.Helper()
	code, _, closeIt := f.tryStreamBody(token, path, hdrs...)
	return code, closeIt
}

// tryStreamBody is tryStream that also reads a refusal's problem. (The
// contract does not declare 429 on the stream routes yet, so f.do's
// contract check would refuse it.)
func (f *fixture) tryStreamBody(token, path string, hdrs ...string) (int, problem.Problem, func()) {
	f.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", f.srv.URL+path, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Accept", "text/event-stream")
	for i := 0; i+1 < len(hdrs); i += 2 {
		req.Header.Set(hdrs[i], hdrs[i+1])
	}
	resp, err := f.srv.Client().Do(req)
	if err != nil {
		cancel()
		f.t.Fatal(err)
	}
	closeIt := func() { cancel(); resp.Body.Close() }
	var p problem.Problem
	if resp.StatusCode != 200 {
		if err := json.NewDecoder(resp.Body).Decode(&p); err != nil || resp.Header.Get("Content-Type") != problem.ContentType {
			f.t.Fatalf("GET %s: %d %s, not a problem (%v)", path, resp.StatusCode, resp.Header.Get("Content-Type"), err)
		}
		closeIt()
	}
	f.t.Cleanup(closeIt)
	return resp.StatusCode, p, closeIt
}

// refused opens a stream that must be refused with a 429 problem of the
// named limit.
func (f *fixture) refused(limit string, value int64, token, path string, hdrs ...string) {
	f.t.Helper()
	code, p, _ := f.tryStreamBody(token, path, hdrs...)
	if code != 429 || p.Type != problem.TypeBase+problem.TypeLimitExceeded || p.Limit != limit ||
		p.LimitValue == nil || *p.LimitValue != value {
		f.t.Fatalf("GET %s: %d %+v, want 429 %s %d", path, code, p, limit, value)
	}
}

// TestStreamCaps: a user's streams, and an organization's, are capped;
// the next one is refused with a 429 problem naming the limit, and a
// closed stream frees its slot.
func TestStreamCaps(t *testing.T) {
	t.Parallel()
	f := setup(t, func(d *v1.Deps) {
		d.Streams = v1.StreamLimits{PerUser: 2, PerOrganization: 3}
		d.Docker = newEndlessLogs()
	})
	f.createApp(f.alice.token, "web", map[string]any{"image": "nginx"})

	_, closeFirst := f.tryStream(f.alice.token, "/api/paas/watch")
	if code, _ := f.tryStream(f.alice.token, "/api/paas/apps/web/events"); code != 200 {
		t.Fatalf("second stream: %d", code)
	}
	f.refused("max_streams_per_user", 2, f.alice.token, "/api/paas/watch")
	f.refused("max_streams_per_user", 2, f.alice.token, "/api/paas/apps/web/logs?follow=true")
	// Bob's organization is another: his streams are his own.
	if code, _ := f.tryStream(f.bob.token, "/api/paas/watch"); code != 200 {
		t.Fatalf("bob's stream: %d", code)
	}
	// Carol fills acme's third slot; her next acme stream is one too many
	// for the organization, though not for her.
	if code, _ := f.tryStream(f.carol.token, "/api/paas/watch", "X-Paas-Organization", "acme"); code != 200 {
		t.Fatalf("carol's stream: %d", code)
	}
	f.refused("max_streams_per_organization", 3, f.carol.token, "/api/paas/apps/web/events", "X-Paas-Organization", "acme")
	// Closing a stream frees its slot once the server sees it gone.
	closeFirst()
	waitFor(t, "a closed stream's slot to be free", func() bool {
		code, closeIt := f.tryStream(f.alice.token, "/api/paas/watch")
		closeIt()
		return code == 200
	})
}

// TestStreamOutlivesReadTimeout: served by api.Server with a short
// ReadTimeout, a watch keeps streaming long after it, while a request
// whose body never ends is cut at it.
func TestStreamOutlivesReadTimeout(t *testing.T) {
	t.Parallel()
	f := setup(t, func(d *v1.Deps) { d.Heartbeat = 50 * time.Millisecond })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	srv := &api.Server{Register: f.api.Register, ReadTimeout: 300 * time.Millisecond}
	go func() { done <- srv.Serve(zerolog.Nop().WithContext(ctx), ln) }()
	t.Cleanup(func() { cancel(); <-done })
	f.srv.URL = "http://" + ln.Addr().String()

	st := f.stream(f.alice.token, "/api/paas/watch")
	st.skipToSynced()
	// Twenty heartbeats: a second, over three read timeouts.
	for pings := 0; pings < 20; {
		select {
		case ev, ok := <-st.events:
			if !ok {
				t.Fatalf("the stream ended after %d heartbeats", pings)
			}
			if ev.Event == "comment" && ev.Data == "ping" {
				pings++
			}
		case <-time.After(wait):
			t.Fatal("no heartbeat")
		}
	}
	app := f.createApp(f.alice.token, "web", map[string]any{"image": "nginx"})
	if a := appEvent(t, st.until(wait, func(ev sseEvent) bool { return ev.Event == "app" })); a.Id != app.Id {
		t.Fatalf("event %+v", a)
	}

	// A body promised and never sent is cut at the read timeout.
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_, _ = io.WriteString(conn, "POST /api/paas/apps HTTP/1.1\r\nHost: paas\r\nAuthorization: Bearer "+f.alice.token+
		"\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{")
	_ = conn.SetReadDeadline(time.Now().Add(wait))
	_, err = io.Copy(io.Discard, conn)
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatalf("the server kept a request with an unfinished body open %s", wait)
	}
}

// TestStreamsNeverExhaustThePool: on a pool of eight connections, 48
// watch streams woken together by fifty status changes never fill the
// pool, so no request or reconciler ever waits for a connection because of
// them: their reads share a quarter of the pool. (Without the share, the
// pool filled in three runs of four.)
func TestStreamsNeverExhaustThePool(t *testing.T) {
	t.Parallel()
	var inUse, peak atomic.Int64
	var small *store.Store
	f := setup(t, func(d *v1.Deps) {
		cfg, err := pgxpool.ParseConfig(d.Store.Pool.Config().ConnString())
		if err != nil {
			t.Fatal(err)
		}
		cfg.MaxConns = 8
		cfg.BeforeAcquire = func(context.Context, *pgx.Conn) bool {
			n := inUse.Add(1)
			for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
			}
			return true
		}
		cfg.AfterRelease = func(*pgx.Conn) bool { inUse.Add(-1); return true }
		pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		small = store.Wrap(pool)
		t.Cleanup(small.Close)
		d.Store = small
		d.Streams.PerUser = 64
	})
	apps := make([]openapi.App, 5)
	for i := range apps {
		apps[i] = f.createApp(f.alice.token, fmt.Sprintf("busy%d", i), map[string]any{"image": "nginx"})
	}
	const streams = 48
	sts := make([]*sseStream, streams)
	for i := range sts {
		sts[i] = f.stream(f.alice.token, "/api/paas/watch")
		sts[i].skipToSynced()
	}
	peak.Store(inUse.Load())
	for round := 1; round <= 10; round++ {
		for _, a := range apps {
			if _, err := f.s.Pool.Exec(context.Background(), "UPDATE paas_apps SET status_message = $2 WHERE id = $1", a.Id, fmt.Sprintf("round %d", round)); err != nil {
				t.Fatal(err)
			}
		}
	}
	// Every stream sees the last change of the last app.
	last := apps[len(apps)-1]
	for _, st := range sts {
		st.until(30*time.Second, func(ev sseEvent) bool {
			return ev.Event == "app" && strings.Contains(ev.Data, last.Id.String()) && strings.Contains(ev.Data, `"round 10"`)
		})
	}
	if p := peak.Load(); p >= 8 {
		t.Errorf("%d of the pool's 8 connections were in use at once while streams were busy: requests had to wait", p)
	} else {
		t.Logf("at most %d of the pool's 8 connections in use", p)
	}
	f.do(f.alice.token, "GET", "/api/paas/apps", nil).want(200)
}
