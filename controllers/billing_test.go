package controllers_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"
	"github.com/rs/zerolog"

	v1 "github.com/skypanel/paas/api/v1"
	"github.com/skypanel/paas/controllers"
	"github.com/skypanel/paas/controllers/swarm/swarmtest"
	"github.com/skypanel/paas/store"
	"github.com/skypanel/paas/store/billing"
)

// offsetClock is real time plus an offset the test moves.
type offsetClock struct {
	mu     sync.Mutex
	offset time.Duration
}

func (c *offsetClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

func (c *offsetClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.offset += d
}

// TestBillingSuspendsAndRestores runs an organization with a small balance
// and two apps on the real Swarm: the meter records what runs, a sweep
// charges it and the wallet loop suspends the organization (both services
// to 0 replicas, Suspended=True InsufficientFunds), a deploy answers 402,
// and an admin credit restores both services to their replica counts with
// no other action.
func TestBillingSuspendsAndRestores(t *testing.T) {
	clock := &offsetClock{}
	e := setup(t, func(m *controllers.Manager) { m.Now = clock.Now })
	ctx := e.ctx
	// Observations up to three hours apart count as continuous, so the
	// clock may jump two hours ahead and the meter bills them.
	if _, err := e.store.Pool.Exec(ctx, `UPDATE paas_settings SET value = '10800' WHERE key = 'billing_meter_max_gap_seconds'`); err != nil {
		t.Fatal(err)
	}
	// A small balance: 2,000 micro-units, two hours of one replica.
	debit := func(amount int64, ref string) {
		if _, err := e.store.InsertLedgerEntry(ctx, store.InsertLedgerEntryParams{OrganizationID: e.org.ID, AmountMicros: amount,
			Kind: "adjustment", Description: "test", Reference: &ref}); err != nil {
			t.Fatal(err)
		}
	}
	w, err := e.store.GetWallet(ctx, e.org.ID)
	if err != nil {
		t.Fatal(err)
	}
	debit(2000-w.BalanceMicros, "test:small-balance")

	web := e.createApp("web", "paas-testapp:v1", 2, nil)
	worker := e.createApp("worker", "paas-testapp:v1", 1, nil)
	running := func(id uuid.UUID, n uint64) func() bool {
		return func() bool {
			svc, ok := e.service(id)
			return ok && svc.ServiceStatus != nil && svc.ServiceStatus.RunningTasks == n &&
				svc.Spec.Mode.Replicated != nil && *svc.Spec.Mode.Replicated.Replicas == n
		}
	}
	swarmtest.Eventually(t, 90*time.Second, "web runs 2, worker 1", func() bool { return running(web.ID, 2)() && running(worker.ID, 1)() })
	metered := func(since time.Time) func() bool {
		return func() bool {
			var n int
			_ = e.store.Pool.QueryRow(ctx, `SELECT count(*) FROM paas_usage_intervals WHERE open AND last_seen_at >= $1
				AND ((app_id = $2 AND replicas = 2) OR (app_id = $3 AND replicas = 1))`, since, web.ID, worker.ID).Scan(&n)
			return n == 2
		}
	}
	swarmtest.Eventually(t, 30*time.Second, "the meter records 2 + 1 replicas", metered(time.Time{}))

	// Two hours pass (the meter extends the intervals across them), then
	// the sweep charges every complete hour.
	clock.Advance(2 * time.Hour)
	swarmtest.Eventually(t, 30*time.Second, "the meter observes after the jump", metered(clock.Now().Add(-time.Minute)))
	res, err := billing.Sweep(ctx, e.store.Pool, clock.Now(), 0, clock.Now)
	if err != nil {
		t.Fatal(err)
	}
	if res.Charges < 2 || res.TotalMicros <= 2000 {
		t.Fatalf("sweep charged %+v; want both apps charged more than the balance", res)
	}
	swarmtest.Eventually(t, 90*time.Second, "suspended: both services at 0", func() bool { return running(web.ID, 0)() && running(worker.ID, 0)() })
	for _, id := range []uuid.UUID{web.ID, worker.ID} {
		swarmtest.Eventually(t, 30*time.Second, "Suspended=True InsufficientFunds", func() bool {
			c := e.condition(e.app(id), "Suspended")
			return c.Status == "True" && c.Reason == "InsufficientFunds"
		})
	}

	// The API refuses a deploy with 402 and says the balance.
	api := newBillingAPI(t, e, clock)
	code, body := api.do(http.MethodPost, "/api/paas/apps/web/deployments", map[string]any{"image": "paas-testapp:v2"})
	if code != http.StatusPaymentRequired || body["type"] != "https://skypanel.dev/problems/payment-required" || body["balance_micros"] == nil {
		t.Fatalf("deploy while suspended: %d %v", code, body)
	}
	if code, _ := api.do(http.MethodPost, "/api/paas/apps/worker/scale", map[string]any{"replicas": 2}); code != http.StatusPaymentRequired {
		t.Fatalf("scale-up while suspended: %d", code)
	}

	// An admin credit restores both, with no other action.
	code, body = api.do(http.MethodPost, "/api/admin/paas/organizations/acme/wallet/adjustments",
		map[string]any{"amount_micros": 1_000_000, "reason": "paid by bank transfer"}, "Idempotency-Key", "credit-1")
	if code != http.StatusCreated {
		t.Fatalf("credit: %d %v", code, body)
	}
	swarmtest.Eventually(t, 90*time.Second, "restored: web 2, worker 1", func() bool { return running(web.ID, 2)() && running(worker.ID, 1)() })
	swarmtest.Eventually(t, 30*time.Second, "Suspended=False", func() bool {
		return e.condition(e.app(web.ID), "Suspended").Status == "False" && e.condition(e.app(worker.ID), "Suspended").Status == "False"
	})
	var kinds []string
	rows, err := e.store.ListNotifications(ctx, store.ListNotificationsParams{OrganizationID: uuid.NullUUID{UUID: e.org.ID, Valid: true}, Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range rows {
		kinds = append(kinds, n.Kind)
	}
	if len(kinds) < 2 || kinds[0] != "restored" || kinds[1] != "suspended" {
		t.Fatalf("notifications %v; want restored after suspended", kinds)
	}
	// The same credit again changes nothing.
	if code, _ := api.do(http.MethodPost, "/api/admin/paas/organizations/acme/wallet/adjustments",
		map[string]any{"amount_micros": 1_000_000, "reason": "paid by bank transfer"}, "Idempotency-Key", "credit-1"); code != http.StatusOK {
		t.Fatalf("repeated credit: %d", code)
	}
	var sum, balance int64
	_ = e.store.Pool.QueryRow(ctx, `SELECT (SELECT sum(amount_micros) FROM paas_ledger WHERE organization_id = $1),
		(SELECT balance_micros FROM paas_wallets WHERE organization_id = $1)`, e.org.ID).Scan(&sum, &balance)
	if sum != balance {
		t.Fatalf("wallet %d, ledger %d", balance, sum)
	}
}

// billingAPI is the v1 API in process, logged in as an admin member of the test's organization.
type billingAPI struct {
	t     *testing.T
	srv   *httptest.Server
	token string
}

func newBillingAPI(t *testing.T, e *env, clock *offsetClock) *billingAPI {
	t.Helper()
	hash, err := store.HashPassword("correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	u, err := e.store.CreateUser(e.ctx, store.CreateUserParams{Email: "admin@example.com", Name: "Admin", PasswordHash: hash, IsAdmin: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.store.AddMembership(e.ctx, store.AddMembershipParams{OrganizationID: e.org.ID, UserID: u.ID, Role: "owner"}); err != nil {
		t.Fatal(err)
	}
	echoSrv := echo.New()
	v1.New(v1.Deps{Store: e.store, Box: e.box, JWTSecret: bytes.Repeat([]byte("k"), 32), Now: clock.Now, Logger: zerolog.Nop()}).Register(echoSrv)
	a := &billingAPI{t: t, srv: httptest.NewServer(echoSrv)}
	t.Cleanup(a.srv.Close)
	var tok struct {
		Token string `json:"token"`
	}
	code, body := a.do(http.MethodPost, "/api/auth/login", map[string]any{"email": "admin@example.com", "password": "correct horse battery"})
	if code != http.StatusOK {
		t.Fatalf("login: %d %v", code, body)
	}
	raw, _ := json.Marshal(body)
	_ = json.Unmarshal(raw, &tok)
	a.token = tok.Token
	return a
}

func (a *billingAPI) do(method, path string, body any, headers ...string) (int, map[string]any) {
	a.t.Helper()
	raw, _ := json.Marshal(body)
	req, _ := http.NewRequestWithContext(context.Background(), method, a.srv.URL+path, bytes.NewReader(raw))
	req.Header.Set("Content-Type", "application/json")
	if a.token != "" {
		req.Header.Set("Authorization", "Bearer "+a.token)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer resp.Body.Close()
	out := map[string]any{}
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}
