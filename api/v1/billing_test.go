package v1_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/stripe/stripe-go/v82/webhook"

	"github.com/skypanel/paas/api/openapi"
	"github.com/skypanel/paas/api/problem"
	v1 "github.com/skypanel/paas/api/v1"
	"github.com/skypanel/paas/store"
)

func (f *fixture) balance(t *testing.T, o store.Organization) (balance, ledger int64) {
	t.Helper()
	if err := f.s.Pool.QueryRow(context.Background(), `SELECT (SELECT balance_micros FROM paas_wallets WHERE organization_id = $1),
		(SELECT COALESCE(sum(amount_micros), 0) FROM paas_ledger WHERE organization_id = $1)`, o.ID).Scan(&balance, &ledger); err != nil {
		t.Fatal(err)
	}
	if balance != ledger {
		t.Fatalf("wallet %d, ledger sum %d", balance, ledger)
	}
	return balance, ledger
}

// TestStripeWebhookCreditsOncePerSession delivers checkout.session.completed
// events signed by the test with the webhook secret: one credit per
// session however often (and however concurrently) it is delivered; a bad
// signature answers 400 and changes nothing.
func TestStripeWebhookCreditsOncePerSession(t *testing.T) {
	f := setup(t)
	const secret = "whsec_test_secret"
	f.setSetting("stripe_webhook_secret", secret)
	before, _ := f.balance(t, f.acme)
	event := func(session, paid string) string {
		return fmt.Sprintf(`{"id":"evt_%s","object":"event","type":"checkout.session.completed","api_version":"2025-01-27.acacia",
			"data":{"object":{"id":"%s","object":"checkout.session","payment_status":"%s","client_reference_id":"%s",
			"metadata":{"organization_id":"%s","amount_micros":"5000000"}}}}`, session, session, paid, f.acme.ID, f.acme.ID)
	}
	deliver := func(payload, sigSecret string) *res {
		signed := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: []byte(payload), Secret: sigSecret, Timestamp: time.Now()})
		return f.do("", http.MethodPost, "/api/billing/stripe/webhook", raw{contentType: "application/json", body: payload}, "Stripe-Signature", signed.Header)
	}

	// A bad signature: 400, nothing recorded.
	r := deliver(event("cs_test_1", "paid"), "whsec_wrong")
	r.problem(http.StatusBadRequest, problem.TypeMalformed)
	if b, _ := f.balance(t, f.acme); b != before {
		t.Fatalf("a badly signed event moved the balance %d -> %d", before, b)
	}
	unsigned := f.do("", http.MethodPost, "/api/billing/stripe/webhook", raw{contentType: "application/json", body: event("cs_test_1", "paid")})
	unsigned.problem(http.StatusBadRequest, problem.TypeMalformed)

	// The same session five times, three of them at once: one credit.
	var ack openapi.WebhookAck
	deliver(event("cs_test_1", "paid"), secret).want(http.StatusOK).decode(&ack)
	if ack.Credited == nil || !*ack.Credited {
		t.Fatalf("first delivery: %+v", ack)
	}
	var wg sync.WaitGroup
	for range 3 {
		wg.Add(1)
		go func() { defer wg.Done(); deliver(event("cs_test_1", "paid"), secret).want(http.StatusOK) }()
	}
	wg.Wait()
	deliver(event("cs_test_1", "paid"), secret).want(http.StatusOK).decode(&ack)
	if ack.Credited == nil || *ack.Credited {
		t.Fatalf("repeated delivery credited again: %+v", ack)
	}
	if b, _ := f.balance(t, f.acme); b != before+5_000_000 {
		t.Fatalf("balance %d, want %d", b, before+5_000_000)
	}
	// An unpaid session credits nothing; another paid session credits once more.
	deliver(event("cs_test_2", "unpaid"), secret).want(http.StatusOK)
	deliver(event("cs_test_3", "paid"), secret).want(http.StatusOK)
	if b, _ := f.balance(t, f.acme); b != before+10_000_000 {
		t.Fatalf("balance %d, want %d", b, before+10_000_000)
	}
	// The ledger shows both top-ups, newest first.
	var page openapi.LedgerList
	f.do(f.alice.token, http.MethodGet, "/api/paas/billing/ledger?limit=2", nil).want(http.StatusOK).decode(&page)
	if len(page.Items) != 2 || page.Items[0].Reference != "stripe:cs_test_3" || page.Items[1].Reference != "stripe:cs_test_1" || page.NextCursor == "" {
		t.Fatalf("ledger page %+v", page)
	}
}

// TestWalletAdjustmentsAndPaymentRequired: an admin debit is idempotent by
// its Idempotency-Key; a wallet that does not cover an hour refuses
// scale-up and create with 402; a suspension for funds refuses deploy and
// start with 402 naming the balance; an admin suspension is 403 with its
// reason.
func TestWalletAdjustmentsAndPaymentRequired(t *testing.T) {
	f := setup(t)
	a := f.createApp(f.alice.token, "web", map[string]any{"image": "nginx:1.27", "plan": f.pro.Name, "replicas": 1})
	bal, _ := f.balance(t, f.acme)
	adjust := func(key string, amount int64, reason string) *res {
		return f.do(f.admin.token, http.MethodPost, "/api/admin/paas/organizations/acme/wallet/adjustments",
			map[string]any{"amount_micros": amount, "reason": reason}, "Idempotency-Key", key)
	}
	// Leave one hour of the app's single replica, and a bit.
	debit := -(bal - f.pro.PriceHourlyMicros - 1)
	adjust("debit-1", debit, "test debit").want(http.StatusCreated)
	adjust("debit-1", debit, "test debit").want(http.StatusOK)
	adjust("debit-1", debit+1, "test debit").problem(http.StatusConflict, problem.TypeConflict)
	adjust("", 5, "x").problem(http.StatusBadRequest, "")
	if b, _ := f.balance(t, f.acme); b != f.pro.PriceHourlyMicros+1 {
		t.Fatalf("balance %d after one debit", b)
	}

	// Two replicas would not be covered for an hour.
	p := f.do(f.alice.token, http.MethodPost, "/api/paas/apps/"+a.Name+"/scale", map[string]any{"replicas": 2}).problem(http.StatusPaymentRequired, problem.TypePaymentRequired)
	if p.BalanceMicros == nil || *p.BalanceMicros != f.pro.PriceHourlyMicros+1 || p.RequiredMicros == nil {
		t.Fatalf("402 problem %+v", p)
	}
	f.do(f.alice.token, http.MethodPost, "/api/paas/apps", map[string]any{"name": "api", "spec": map[string]any{"image": "nginx:1.27", "plan": f.pro.Name}}).
		problem(http.StatusPaymentRequired, problem.TypePaymentRequired)

	// Suspended for funds: deploy answers 402 with the balance.
	if _, err := f.s.Pool.Exec(context.Background(), `UPDATE paas_organizations SET funds_suspended = true WHERE id = $1`, f.acme.ID); err != nil {
		t.Fatal(err)
	}
	p = f.do(f.alice.token, http.MethodPost, "/api/paas/apps/"+a.Name+"/deployments", map[string]any{"image": "nginx:1.28"}).problem(http.StatusPaymentRequired, problem.TypePaymentRequired)
	if p.BalanceMicros == nil || p.Currency != "USD" {
		t.Fatalf("402 problem %+v", p)
	}
	var w openapi.Wallet
	f.do(f.alice.token, http.MethodGet, "/api/paas/billing/wallet", nil).want(http.StatusOK).decode(&w)
	if !w.Suspended || w.SuspensionReason != openapi.InsufficientFunds {
		t.Fatalf("wallet %+v", w)
	}
	// An admin suspension is separate, shown with its reason, 403.
	f.do(f.admin.token, http.MethodPut, "/api/admin/paas/organizations/acme/suspension", map[string]any{"suspended": true, "reason": "abuse report"}).
		want(http.StatusOK).decode(&w)
	if w.SuspensionReason != openapi.AdminAction {
		t.Fatalf("wallet %+v", w)
	}
	f.do(f.alice.token, http.MethodPost, "/api/paas/apps/"+a.Name+"/deployments", map[string]any{"image": "nginx:1.28"}).problem(http.StatusForbidden, problem.TypeSuspended)
	var low openapi.WalletList
	f.do(f.admin.token, http.MethodGet, "/api/admin/paas/wallets/low", nil).want(http.StatusOK).decode(&low)
	if len(low.Items) != 1 || low.Items[0].OrganizationSlug != "acme" {
		t.Fatalf("low wallets %+v", low)
	}
	f.do(f.alice.token, http.MethodGet, "/api/paas/billing/usage?group_by=day&format=csv", nil).want(http.StatusOK)
}

// TestCheckoutCreatesAStripeSession points the API at a fake Stripe: the
// session carries the organization and the amount in its metadata, and
// nothing is credited until the webhook says it was paid.
func TestCheckoutCreatesAStripeSession(t *testing.T) {
	var form url.Values
	fake := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		form = r.PostForm
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"id":"cs_test_fake","object":"checkout.session","url":"https://checkout.stripe.test/pay/cs_test_fake"}`))
	}))
	defer fake.Close()
	f := setup(t, func(d *v1.Deps) { d.StripeURL = fake.URL })
	f.do(f.alice.token, http.MethodPost, "/api/paas/billing/checkout", map[string]any{"amount_micros": 20_000_000}).problem(http.StatusConflict, problem.TypeConflict)
	f.setSetting("stripe_secret_key", "sk_test_fake")
	before, _ := f.balance(t, f.acme)
	f.do(f.alice.token, http.MethodPost, "/api/paas/billing/checkout", map[string]any{"amount_micros": 123}).problem(http.StatusUnprocessableEntity, "")
	var c openapi.Checkout
	f.do(f.alice.token, http.MethodPost, "/api/paas/billing/checkout", map[string]any{"amount_micros": 20_000_000}).want(http.StatusCreated).decode(&c)
	if c.SessionId != "cs_test_fake" || c.Url == "" {
		t.Fatalf("checkout %+v", c)
	}
	if form.Get("metadata[organization_id]") != f.acme.ID.String() || form.Get("metadata[amount_micros]") != "20000000" ||
		form.Get("line_items[0][price_data][unit_amount]") != "2000" || form.Get("mode") != "payment" {
		t.Fatalf("session form %v", form)
	}
	if b, _ := f.balance(t, f.acme); b != before {
		t.Fatalf("a checkout credited the wallet before payment: %d -> %d", before, b)
	}
}
