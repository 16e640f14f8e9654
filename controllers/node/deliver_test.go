package node

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/skypanel/paas/store"
	"github.com/skypanel/paas/store/storetest"
)

func TestDeliveryBackoff(t *testing.T) {
	for _, tc := range []struct {
		failed int
		want   time.Duration
	}{
		{0, 0}, {1, 10 * time.Second}, {2, 20 * time.Second}, {3, 40 * time.Second},
		{6, 320 * time.Second}, {7, 640 * time.Second}, {8, 15 * time.Minute}, {12, 15 * time.Minute}, {100, 15 * time.Minute},
	} {
		if got := DeliveryBackoff(tc.failed); got != tc.want {
			t.Errorf("DeliveryBackoff(%d) = %s, want %s", tc.failed, got, tc.want)
		}
	}
}

// receiver is a webhook endpoint that answers 503 to the first `fail`
// posts (every post when fail < 0) and records each post.
type receiver struct {
	mu    sync.Mutex
	fail  int
	posts []post
	srv   *httptest.Server
}

type post struct {
	delivery, ts, sig string
	body              []byte
	accepted          bool
}

func newReceiver(t *testing.T, fail int) *receiver {
	rc := &receiver{fail: fail}
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		defer rc.mu.Unlock()
		p := post{delivery: r.Header.Get("X-Paas-Delivery"), ts: r.Header.Get("X-Paas-Timestamp"),
			sig: r.Header.Get("X-Paas-Signature"), body: body}
		p.accepted = rc.fail >= 0 && len(rc.posts) >= rc.fail
		rc.posts = append(rc.posts, p)
		if !p.accepted {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) count() int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return len(rc.posts)
}

// webhookEnv is a node Reconciler on a fresh database with the alert
// webhook configured (URL with a token, and a secret) through paas_settings.
func webhookEnv(t *testing.T, rc *receiver, c *clock) (*Reconciler, settings) {
	t.Helper()
	s := storetest.New(t)
	ctx := context.Background()
	url, secret := rc.srv.URL+"/hooks/tok3n?key=k3y", "s3cret"
	for k, v := range map[string]string{SettingWebhookURL: url, SettingWebhookSecret: secret} {
		if err := s.PutSetting(ctx, store.PutSettingParams{Key: k, Value: &v}); err != nil {
			t.Fatal(err)
		}
	}
	r := &Reconciler{Store: s, Now: c.now}
	cfg, err := r.settings(ctx)
	if err != nil || cfg.webhookURL != url || string(cfg.webhookSecret) != secret {
		t.Fatalf("settings %+v: %v", cfg, err)
	}
	return r, cfg
}

// downNode is a serving node Swarm reports down: alerts fires node.down.
var downNode = store.WorkerNode{SwarmNodeID: "n1", Hostname: "h1", Approved: true, State: "down"}

func deliveries(t *testing.T, s *store.Store) []store.PaasAlertDelivery {
	t.Helper()
	ds, err := s.ListAlertDeliveries(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

// TestAlertWebhookRetried: an alert's webhook is queued with the decision
// (nothing is posted by alerts itself), a receiver answering 503 twice gets
// it again only once each backoff has passed, and it is accepted exactly
// once, with the same delivery id, body and a valid signature every time.
func TestAlertWebhookRetried(t *testing.T) {
	ctx := context.Background()
	c := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	rc := newReceiver(t, 2)
	r, cfg := webhookEnv(t, rc, c)
	t0 := c.now()

	if err := r.alerts(ctx, downNode, cfg, c.now()); err != nil {
		t.Fatal(err)
	}
	ds := deliveries(t, r.Store)
	if len(ds) != 1 || ds[0].Attempts != 0 || ds[0].DeliveredAt != nil || !ds[0].NextAttemptAt.Equal(t0) || rc.count() != 0 {
		t.Fatalf("after the decision: deliveries %+v, %d posts; want one queued, none posted", ds, rc.count())
	}
	id := ds[0].ID

	// deliverAt runs a delivery pass at the clock's time and checks the
	// number of posts so far and when the next attempt is due.
	deliverAt := func(wantPosts int, wantDue time.Time) {
		t.Helper()
		due, err := r.deliver(ctx, cfg, c.now())
		if err != nil {
			t.Fatal(err)
		}
		if rc.count() != wantPosts || !due.Equal(wantDue) {
			t.Fatalf("at +%s: %d posts, next due %s; want %d, %s", c.now().Sub(t0), rc.count(), due, wantPosts, wantDue)
		}
	}
	deliverAt(1, t0.Add(10*time.Second)) // 503: retry in 10s
	deliverAt(1, t0.Add(10*time.Second)) // not due: not resent
	c.advance(9 * time.Second)
	deliverAt(1, t0.Add(10*time.Second))
	c.advance(time.Second)
	deliverAt(2, t0.Add(30*time.Second)) // 503 again: retry in 20s
	d := deliveries(t, r.Store)[0]
	if d.Attempts != 2 || d.DeliveredAt != nil || !strings.Contains(d.LastError, "503") {
		t.Fatalf("after two failures: %+v", d)
	}
	if strings.Contains(d.LastError, "tok3n") || strings.Contains(d.LastError, "k3y") || strings.Contains(d.LastError, "s3cret") {
		t.Fatalf("last_error %q carries a secret", d.LastError)
	}
	c.advance(19 * time.Second)
	deliverAt(2, t0.Add(30*time.Second))
	c.advance(time.Second)
	deliverAt(3, time.Time{}) // accepted: nothing pending
	c.advance(time.Hour)
	deliverAt(3, time.Time{}) // and never sent again

	d = deliveries(t, r.Store)[0]
	if d.Attempts != 3 || d.DeliveredAt == nil || !d.DeliveredAt.Equal(c.now().Add(-time.Hour)) {
		t.Fatalf("delivered row %+v", d)
	}
	accepted := 0
	for i, p := range rc.posts {
		if p.accepted {
			accepted++
		}
		if p.delivery != id.String() || string(p.body) != string(rc.posts[0].body) || p.ts != strconv.FormatInt(t0.Unix(), 10) ||
			p.sig != Sign([]byte("s3cret"), p.ts, p.body) {
			t.Fatalf("post %d: delivery %q (want %s), ts %q, sig %q, body %s", i, p.delivery, id, p.ts, p.sig, p.body)
		}
	}
	var back Payload
	if err := json.Unmarshal(rc.posts[0].body, &back); err != nil || back.Kind != "node.down" || back.NodeID != "n1" ||
		!back.Firing || !back.At.Equal(t0) {
		t.Fatalf("body %s: %v", rc.posts[0].body, err)
	}
	if accepted != 1 {
		t.Fatalf("%d posts accepted, want 1", accepted)
	}
}

// TestAlertWebhookSurvivesRestart: paasd stops after the alert's commit and
// before its post (alerts queued it; nothing was sent); a new Reconciler on
// another pool to the same database posts it, once.
func TestAlertWebhookSurvivesRestart(t *testing.T) {
	ctx := context.Background()
	c := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	rc := newReceiver(t, 0)
	u := storetest.NewURL(t)
	s1, err := store.Open(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	hook := rc.srv.URL
	if err := s1.PutSetting(ctx, store.PutSettingParams{Key: SettingWebhookURL, Value: &hook}); err != nil {
		t.Fatal(err)
	}
	r1 := &Reconciler{Store: s1, Now: c.now}
	cfg, err := r1.settings(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := r1.alerts(ctx, downNode, cfg, c.now()); err != nil {
		t.Fatal(err)
	}
	s1.Close() // the crash: nothing posted
	if rc.count() != 0 {
		t.Fatalf("%d posts before the restart", rc.count())
	}

	s2, err := store.Open(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	c.advance(time.Minute)
	r2 := &Reconciler{Store: s2, Now: c.now}
	cfg, err = r2.settings(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// The restarted node loop decides nothing new (the alert state is in
	// Postgres) yet posts the pending webhook.
	if err := r2.alerts(ctx, downNode, cfg, c.now()); err != nil {
		t.Fatal(err)
	}
	if _, err := r2.deliver(ctx, cfg, c.now()); err != nil {
		t.Fatal(err)
	}
	if _, err := r2.deliver(ctx, cfg, c.now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	ds := deliveries(t, s2)
	if rc.count() != 1 || !rc.posts[0].accepted || len(ds) != 1 || ds[0].DeliveredAt == nil || rc.posts[0].delivery != ds[0].ID.String() {
		t.Fatalf("%d posts, deliveries %+v; want the one queued before the restart, posted once", rc.count(), ds)
	}
}

// TestAlertWebhookGivenUp: a receiver that always fails gets
// MaxDeliveryAttempts posts, each after its backoff, then no more; the row
// stays with its last error.
func TestAlertWebhookGivenUp(t *testing.T) {
	ctx := context.Background()
	c := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	rc := newReceiver(t, -1)
	r, cfg := webhookEnv(t, rc, c)
	if err := r.alerts(ctx, downNode, cfg, c.now()); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= MaxDeliveryAttempts; i++ {
		due, err := r.deliver(ctx, cfg, c.now())
		if err != nil {
			t.Fatal(err)
		}
		if rc.count() != i {
			t.Fatalf("attempt %d: %d posts", i, rc.count())
		}
		if i < MaxDeliveryAttempts {
			if want := c.now().Add(DeliveryBackoff(i)); !due.Equal(want) {
				t.Fatalf("attempt %d: next due %s, want %s", i, due, want)
			}
			// Just before the backoff ends: not resent.
			c.advance(DeliveryBackoff(i) - time.Second)
			if _, err := r.deliver(ctx, cfg, c.now()); err != nil || rc.count() != i {
				t.Fatalf("attempt %d resent before its backoff ended (%d posts): %v", i, rc.count(), err)
			}
			c.advance(time.Second)
		} else if !due.IsZero() {
			t.Fatalf("given up, yet next due %s", due)
		}
	}
	c.advance(24 * time.Hour)
	if _, err := r.deliver(ctx, cfg, c.now()); err != nil {
		t.Fatal(err)
	}
	d := deliveries(t, r.Store)
	if rc.count() != MaxDeliveryAttempts || len(d) != 1 || d[0].Attempts != MaxDeliveryAttempts || d[0].DeliveredAt != nil ||
		!strings.Contains(d[0].LastError, "503") {
		t.Fatalf("%d posts, deliveries %+v; want %d posts and the row kept with its error", rc.count(), d, MaxDeliveryAttempts)
	}
}

// TestAlertWithoutWebhookQueuesNothing: with no webhook URL set, alerts
// still notify admins but queue no delivery (one configured later is not
// flooded with old alerts).
func TestAlertWithoutWebhookQueuesNothing(t *testing.T) {
	ctx := context.Background()
	c := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	r := &Reconciler{Store: storetest.New(t), Now: c.now}
	cfg, err := r.settings(ctx)
	if err != nil || cfg.webhookURL != "" {
		t.Fatalf("settings %+v: %v", cfg, err)
	}
	if err := r.alerts(ctx, downNode, cfg, c.now()); err != nil {
		t.Fatal(err)
	}
	var notes int
	if err := r.Store.Pool.QueryRow(ctx, `SELECT count(*) FROM paas_notifications WHERE kind = 'node.down'`).Scan(&notes); err != nil {
		t.Fatal(err)
	}
	if ds := deliveries(t, r.Store); notes != 1 || len(ds) != 0 {
		t.Fatalf("%d notifications, deliveries %+v; want 1 and none", notes, ds)
	}
}
