package pgnotify

import (
	"context"
	"github.com/skypanel/paas/store/storetest"
	"sync/atomic"
	"testing"
	"time"
)

func TestListenerDeliversAndReconnects(t *testing.T) {
	ctx := testCtx(t)
	admin := storetest.AdminConn(t)
	app := uniqueName("listener")
	// Mixed case and a space: LISTEN must quote the identifier to match.
	channel := "Paas Test " + uniqueName("ch")

	type note struct{ channel, payload string }
	notes := make(chan note, 16)
	connects := make(chan int, 16)
	disconnects := make(chan struct{}, 16)
	var nConnects atomic.Int64
	l := &Listener{
		Connect:  storetest.Connector(t, app),
		Channels: []string{channel, uniqueName("other")},
		Handle: func(ctx context.Context, channel, payload string) {
			notes <- note{channel, payload}
		},
		OnConnect:      func(ctx context.Context) { connects <- int(nConnects.Add(1)) },
		OnDisconnect:   func() { disconnects <- struct{}{} },
		ReconnectDelay: 20 * time.Millisecond,
		PingInterval:   50 * time.Millisecond,
	}
	start(t, ctx, l.Run)

	notify := func(payload string) {
		t.Helper()
		if _, err := admin.Exec(ctx, "SELECT pg_notify($1, $2)", channel, payload); err != nil {
			t.Fatalf("notify: %v", err)
		}
	}
	expect := func(payload string) {
		t.Helper()
		n := recv(t, notes, 10*time.Second, "notification "+payload)
		if n.channel != channel || n.payload != payload {
			t.Fatalf("got notification %q on %q, want %q on %q", n.payload, n.channel, payload, channel)
		}
	}

	if n := recv(t, connects, 10*time.Second, "first OnConnect"); n != 1 {
		t.Fatalf("OnConnect count = %d, want 1", n)
	}
	notify("app/1")
	expect("app/1")

	// A silent connection is pinged, and still delivers afterwards.
	deadline := time.Now().Add(10 * time.Second)
	for {
		var query string
		err := admin.QueryRow(ctx, `SELECT query FROM pg_stat_activity WHERE application_name = $1`, app).Scan(&query)
		if err == nil && query == "-- ping" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the silent listener was not pinged (last query %q, %v)", query, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	notify("app/1b")
	expect("app/1b")

	if n := storetest.Terminate(t, admin, app); n != 1 {
		t.Fatalf("terminated %d listener backends, want 1", n)
	}
	recv(t, disconnects, 10*time.Second, "OnDisconnect after the backend was terminated")
	if n := recv(t, connects, 10*time.Second, "OnConnect after reconnect"); n != 2 {
		t.Fatalf("OnConnect count = %d, want 2", n)
	}
	notify("app/2")
	expect("app/2")
}

func TestListenerRequiresConfig(t *testing.T) {
	if err := (&Listener{}).Run(testCtx(t)); err == nil {
		t.Fatal("Run with no Connect returned nil, want an error")
	}
}
