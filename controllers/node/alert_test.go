package node

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"
)

// clock is an injected clock the tests move by hand.
type clock struct{ t time.Time }

func (c *clock) now() time.Time          { return c.t }
func (c *clock) advance(d time.Duration) { c.t = c.t.Add(d) }

func TestAlertCooldown(t *testing.T) {
	c := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	const cooldown = 30 * time.Minute
	var st AlertState
	step := func(active bool, want Send) {
		t.Helper()
		var got Send
		st, got = DecideAlert(st, active, c.now(), cooldown)
		if got != want {
			t.Fatalf("at %s active=%v: sent %d, want %d (state %+v)", c.now().Format(time.TimeOnly), active, got, want, st)
		}
	}
	step(false, SendNone) // healthy: nothing
	step(true, SendFire)  // down: alert
	c.advance(time.Minute)
	step(true, SendNone) // still down: no repeat
	c.advance(time.Minute)
	step(false, SendResolve) // back: resolved
	c.advance(time.Minute)
	step(true, SendNone) // flaps within the cooldown: held
	c.advance(10 * time.Minute)
	step(false, SendNone) // its end is not announced either
	c.advance(time.Minute)
	step(true, SendNone) // again, still within the cooldown
	c.advance(cooldown)
	step(true, SendFire) // lasted past the cooldown unannounced: announced now
	step(true, SendNone)
	step(false, SendResolve)
	c.advance(cooldown)
	step(true, SendFire) // a new episode after the cooldown
}

// TestAlertStateSurvivesRestart: the state is all there is (it lives in
// Postgres), so a restarted loop that reads it back sends nothing new.
func TestAlertStateSurvivesRestart(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	st, send := DecideAlert(AlertState{}, true, now, time.Hour)
	if send != SendFire {
		t.Fatal("first alert not sent")
	}
	// A restart: the same state read back from the database.
	reread := AlertState{Firing: st.Firing, Notified: st.Notified, Since: ptr(*st.Since), LastSent: ptr(*st.LastSent)}
	if _, send := DecideAlert(reread, true, now.Add(time.Second), time.Hour); send != SendNone {
		t.Fatal("a restart re-sent the alert")
	}
}

func ptr[T any](v T) *T { return &v }

func TestOver(t *testing.T) {
	for _, tc := range []struct {
		used, capacity, percent int64
		want                    bool
	}{
		{900, 1000, 90, true}, {899, 1000, 90, false}, {1000, 1000, 90, true}, {5, 0, 90, false}, {0, 1000, 0, true},
	} {
		if got := Over(tc.used, tc.capacity, tc.percent); got != tc.want {
			t.Errorf("Over(%d, %d, %d) = %v", tc.used, tc.capacity, tc.percent, got)
		}
	}
}

func TestSign(t *testing.T) {
	// HMAC-SHA256("secret", "1700000000.{}"), computed with openssl.
	got := Sign([]byte("secret"), "1700000000", []byte("{}"))
	if want := "sha256=b8569b78799ff9e3cbff0fc2d63a33a2b57f3282abd07c37ae5e8e7d79a5f163"; got != want {
		t.Fatalf("signature %q, want %q", got, want)
	}
	if Sign([]byte("other"), "1700000000", []byte("{}")) == got {
		t.Fatal("the key does not change the signature")
	}
}

// TestWebhookSigned: the alert webhook posts the payload with an HMAC of
// timestamp and body under the secret.
func TestWebhookSigned(t *testing.T) {
	var got struct {
		sig, ts string
		body    []byte
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got.sig, got.ts = r.Header.Get("X-Paas-Signature"), r.Header.Get("X-Paas-Timestamp")
		got.body, _ = io.ReadAll(r.Body)
	}))
	defer srv.Close()
	r := &Reconciler{}
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	p := Payload{Kind: "node.down", Firing: true, NodeID: "n1", Hostname: "h1", Title: "Node h1 is down", At: at}
	if err := r.send(context.Background(), settings{webhookURL: srv.URL, webhookSecret: []byte("s3cret")}, "d1", p); err != nil {
		t.Fatal(err)
	}
	if got.ts != strconv.FormatInt(at.Unix(), 10) || got.sig != Sign([]byte("s3cret"), got.ts, got.body) {
		t.Fatalf("signature %q over %q at %q", got.sig, got.body, got.ts)
	}
	var back Payload
	if err := json.Unmarshal(got.body, &back); err != nil || back.Kind != "node.down" || back.NodeID != "n1" {
		t.Fatalf("body %s: %v", got.body, err)
	}
}
