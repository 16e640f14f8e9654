package v1_test

import (
	"context"
	"encoding/json"
	"strconv"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/skypanel/paas/api/openapi"
	v1 "github.com/skypanel/paas/api/v1"
	"github.com/skypanel/paas/store"
)

const wait = 10 * time.Second

func (f *fixture) setPhase(id uuid.UUID, phase string) {
	f.t.Helper()
	ctx := context.Background()
	app, err := f.s.GetApp(ctx, id)
	if err != nil {
		f.t.Fatal(err)
	}
	if err := f.s.UpdateAppStatus(ctx, store.UpdateAppStatusParams{ID: id, ObservedGeneration: app.Generation, Phase: phase,
		Conditions: json.RawMessage(`[]`), RunningReplicas: app.Replicas, DesiredReplicas: app.Replicas}); err != nil {
		f.t.Fatal(err)
	}
}

func appEvent(t testing.TB, ev sseEvent) openapi.App {
	t.Helper()
	if ev.Event != "app" {
		t.Fatalf("event %+v, want an app", ev)
	}
	var a openapi.App
	if err := json.Unmarshal([]byte(ev.Data), &a); err != nil {
		t.Fatal(err)
	}
	if ev.ID != strconv.FormatInt(a.Status.StatusSeq, 10) {
		t.Fatalf("event id %s is not the status_seq %d", ev.ID, a.Status.StatusSeq)
	}
	return a
}

func TestWatch(t *testing.T) {
	t.Parallel()
	f := setup(t)
	web := f.createApp(f.alice.token, "web", map[string]any{"image": "nginx"})
	other := f.createApp(f.bob.token, "web", map[string]any{"image": "nginx"})

	st := f.stream(f.alice.token, "/api/paas/watch")
	if a := appEvent(t, st.next(wait)); a.Id != web.Id || a.Status.Phase != "Pending" {
		t.Fatalf("first event %+v", a)
	}
	if ev := st.next(wait); ev.Event != "synced" || ev.ID != "" {
		t.Fatalf("want synced, got %+v", ev)
	}

	// A status change of the app is streamed.
	f.setPhase(web.Id, "Running")
	running := appEvent(t, st.next(wait))
	if running.Id != web.Id || running.Status.Phase != "Running" {
		t.Fatalf("event %+v", running)
	}
	// Another organization's changes are not.
	f.setPhase(other.Id, "Running")
	// A new app and its deletion are.
	api := f.createApp(f.alice.token, "api", map[string]any{"image": "nginx"})
	if a := appEvent(t, st.next(wait)); a.Id != api.Id {
		t.Fatalf("event %+v, want app api", a)
	}
	f.do(f.alice.token, "DELETE", "/api/paas/apps/api", nil).want(202)
	if a := appEvent(t, st.next(wait)); a.Id != api.Id || a.Status.Phase != "Deleting" {
		t.Fatalf("event %+v, want api Deleting", a)
	}
	if n, err := f.s.DeleteAppRow(context.Background(), api.Id); err != nil || n != 1 {
		t.Fatal(n, err)
	}
	ev := st.next(wait)
	var gone openapi.DeletedApp
	if err := json.Unmarshal([]byte(ev.Data), &gone); err != nil || ev.Event != "deleted" || gone.Id != api.Id || gone.Name != "api" ||
		ev.ID != strconv.FormatInt(gone.StatusSeq, 10) {
		t.Fatalf("event %+v (%v)", ev, err)
	}
	st.quiet(500 * time.Millisecond)

	t.Run("resume with Last-Event-ID", func(t *testing.T) {
		f := f.on(t)
		// Since the Running event, web has not changed; api came and went.
		rs := f.stream(f.alice.token, "/api/paas/watch", "Last-Event-ID", strconv.FormatInt(running.Status.StatusSeq, 10))
		if ev := rs.next(wait); ev.Event != "deleted" || ev.ID != strconv.FormatInt(gone.StatusSeq, 10) {
			t.Fatalf("first resumed event %+v", ev)
		}
		if ev := rs.next(wait); ev.Event != "synced" {
			t.Fatalf("want synced, got %+v", ev)
		}
		// From the start: every app and every deletion, in order.
		all := f.stream(f.alice.token, "/api/paas/watch", "Last-Event-ID", "0")
		if a := appEvent(t, all.next(wait)); a.Id != web.Id {
			t.Fatalf("event %+v", a)
		}
		if ev := all.next(wait); ev.Event != "deleted" {
			t.Fatalf("event %+v", ev)
		}
		f.do(f.alice.token, "GET", "/api/paas/watch", nil, "Last-Event-ID", "abc").problem(400, "malformed-request")
	})
	t.Run("resume from before pruned tombstones", func(t *testing.T) {
		f := f.on(t)
		if n, err := f.s.PruneTombstones(context.Background(), time.Now().Add(-time.Hour)); err != nil || n != 0 {
			t.Fatalf("pruned %d recent tombstones (%v), want 0", n, err)
		}
		if n, err := f.s.PruneTombstones(context.Background(), time.Now().Add(time.Minute)); err != nil || n != 1 {
			t.Fatalf("pruned %d tombstones (%v), want 1", n, err)
		}
		// Resuming after the deletion misses nothing.
		after := f.stream(f.alice.token, "/api/paas/watch", "Last-Event-ID", strconv.FormatInt(gone.StatusSeq, 10))
		if ev := after.next(wait); ev.Event != "synced" {
			t.Fatalf("want synced, got %+v", ev)
		}
		// Resuming from before it cannot list the deletion: the stream
		// starts over, and the deleted app is simply absent.
		rs := f.stream(f.alice.token, "/api/paas/watch", "Last-Event-ID", strconv.FormatInt(running.Status.StatusSeq, 10))
		if ev := rs.next(wait); ev.Event != "reset" || ev.ID != "" {
			t.Fatalf("want reset, got %+v", ev)
		}
		if a := appEvent(t, rs.next(wait)); a.Id != web.Id {
			t.Fatalf("event %+v, want web", a)
		}
		if ev := rs.next(wait); ev.Event != "synced" {
			t.Fatalf("want synced, got %+v", ev)
		}
	})
	t.Run("heartbeats", func(t *testing.T) {
		f := f.on(t)
		hb := f.stream(f.alice.token, "/api/paas/watch")
		deadline := time.After(wait)
		for {
			select {
			case ev := <-hb.events:
				if ev.Event == "comment" && ev.Data == "ping" {
					return
				}
			case <-deadline:
				t.Fatal("no heartbeat")
			}
		}
	})
}

func TestWatchOneApp(t *testing.T) {
	t.Parallel()
	f := setup(t)
	web := f.createApp(f.alice.token, "web", map[string]any{"image": "nginx"})
	api := f.createApp(f.alice.token, "api", map[string]any{"image": "nginx"})
	st := f.stream(f.alice.token, "/api/paas/watch?app=web")
	if a := appEvent(t, st.next(wait)); a.Id != web.Id {
		t.Fatalf("event %+v", a)
	}
	st.next(wait) // synced
	f.setPhase(api.Id, "Running")
	f.setPhase(web.Id, "Failed")
	if a := appEvent(t, st.next(wait)); a.Id != web.Id || a.Status.Phase != "Failed" {
		t.Fatalf("event %+v", a)
	}
	f.do(f.alice.token, "GET", "/api/paas/watch?app=nope", nil).problem(404, "not-found")
	f.do(f.bob.token, "GET", "/api/paas/watch?app="+web.Id.String(), nil).problem(404, "not-found")
}

// TestWatchSurvivesListenerLoss kills the shared LISTEN connection: the
// hub reconnects and wakes every watcher, so no change is lost.
func TestWatchSurvivesListenerLoss(t *testing.T) {
	t.Parallel()
	f := setup(t)
	web := f.createApp(f.alice.token, "web", map[string]any{"image": "nginx"})
	st := f.stream(f.alice.token, "/api/paas/watch")
	st.next(wait) // web
	st.next(wait) // synced
	var killed int
	err := f.s.Pool.QueryRow(context.Background(), `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE datname = current_database() AND query ILIKE 'LISTEN%' AND application_name <> $1`, v1.ChangesApplicationName).Scan(&killed)
	if err != nil || killed != 1 {
		t.Fatalf("terminated %d listeners: %v", killed, err)
	}
	f.setPhase(web.Id, "Running")
	if a := appEvent(t, st.until(wait, func(ev sseEvent) bool { return ev.Event == "app" })); a.Status.Phase != "Running" {
		t.Fatalf("event %+v", a)
	}
	// The stream keeps following live changes after the reconnect.
	time.Sleep(300 * time.Millisecond)
	f.setPhase(web.Id, "Degraded")
	if a := appEvent(t, st.next(wait)); a.Status.Phase != "Degraded" {
		t.Fatalf("event %+v", a)
	}
}

// TestWatchSeesConcurrentWriters checks completeness under concurrent
// status writers: every app's last status arrives, and each app's events
// come in status_seq order. (Across apps a transaction that took a lower
// seq may commit later; it is still sent, after the higher one.)
func TestWatchSeesConcurrentWriters(t *testing.T) {
	t.Parallel()
	f := setup(t)
	var ids []uuid.UUID
	for _, n := range []string{"a", "b", "c", "d"} {
		ids = append(ids, f.createApp(f.alice.token, n, map[string]any{"image": "nginx"}).Id)
	}
	st := f.stream(f.alice.token, "/api/paas/watch")
	st.until(wait, func(ev sseEvent) bool { return ev.Event == "synced" })
	done := make(chan struct{})
	for _, id := range ids {
		go func() {
			defer func() { done <- struct{}{} }()
			for i := 0; i < 20; i++ {
				f.setPhase(id, "Step"+strconv.Itoa(i))
			}
		}()
	}
	for range ids {
		<-done
	}
	last := map[uuid.UUID]string{}
	prev := map[uuid.UUID]int64{}
	deadline := time.Now().Add(wait)
	for len(last) < len(ids) || !allEqual(last, "Step19") {
		if time.Now().After(deadline) {
			t.Fatalf("last phases %v", last)
		}
		a := appEvent(t, st.next(time.Until(deadline)))
		if a.Status.StatusSeq <= prev[a.Id] {
			t.Fatalf("app %s: status_seq went %d -> %d", a.Name, prev[a.Id], a.Status.StatusSeq)
		}
		prev[a.Id] = a.Status.StatusSeq
		last[a.Id] = a.Status.Phase
	}
}

func allEqual(m map[uuid.UUID]string, v string) bool {
	for _, x := range m {
		if x != v {
			return false
		}
	}
	return true
}

// TestWatchListenerFollowsWatchers checks one LISTEN connection serves
// every watcher of the process and closes with the last one.
func TestWatchListenerFollowsWatchers(t *testing.T) {
	t.Parallel()
	f := setup(t)
	f.createApp(f.alice.token, "web", map[string]any{"image": "nginx"})
	f.createApp(f.bob.token, "web", map[string]any{"image": "nginx"})
	listeners := func() int {
		var n int
		if err := f.s.Pool.QueryRow(context.Background(), `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND query ILIKE 'LISTEN%' AND application_name <> $1`, v1.ChangesApplicationName).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	var streams []*sseStream
	for _, tok := range []string{f.alice.token, f.alice.token, f.bob.token} {
		st := f.stream(tok, "/api/paas/watch")
		st.until(wait, func(ev sseEvent) bool { return ev.Event == "synced" })
		streams = append(streams, st)
	}
	if n := listeners(); n != 1 {
		t.Fatalf("%d LISTEN connections for 3 watchers", n)
	}
	for _, st := range streams {
		st.close()
	}
	deadline := time.Now().Add(wait)
	for listeners() != 0 {
		if time.Now().After(deadline) {
			t.Fatal("the LISTEN connection outlived its watchers")
		}
		time.Sleep(50 * time.Millisecond)
	}
}
