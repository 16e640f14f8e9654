package v1

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"
	"github.com/stripe/stripe-go/v82"
	"github.com/stripe/stripe-go/v82/webhook"

	"github.com/skypanel/paas/api/openapi"
	"github.com/skypanel/paas/api/problem"
	"github.com/skypanel/paas/store"
	"github.com/skypanel/paas/store/billing"
	"github.com/skypanel/paas/store/secret"
)

// Settings of the Stripe integration (sensitive: sealed in paas_settings).
const (
	settingStripeSecret        = "stripe_secret_key"
	settingStripeWebhookSecret = "stripe_webhook_secret"
	settingCheckoutSuccessURL  = "billing_checkout_success_url"
	settingCheckoutCancelURL   = "billing_checkout_cancel_url"
)

// secretSetting reads a setting, opening it when sealed; "" when unset.
func (s *server) secretSetting(ctx context.Context, q store.SettingGetter, key string) (string, error) {
	st, err := q.GetSetting(ctx, key)
	if store.IsNotFound(err) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	if st.Sensitive {
		if len(st.ValueEncrypted) == 0 {
			return "", nil
		}
		clear, err := s.Box.Open(st.ValueEncrypted, secret.SettingAD(key))
		return strings.TrimSpace(string(clear)), err
	}
	if st.Value == nil {
		return "", nil
	}
	return strings.TrimSpace(*st.Value), nil
}

// funds is what the API's checks know of an organization's wallet.
type funds struct {
	row       store.OrganizationBillingRow
	threshold int64
	currency  string
}

func (s *server) readFunds(ctx context.Context, q *store.Queries, orgID, exceptApp uuid.UUID) (funds, error) {
	gap, err := billing.MaxGap(ctx, q)
	if err != nil {
		return funds{}, err
	}
	threshold, err := billing.Threshold(ctx, q)
	if err != nil {
		return funds{}, err
	}
	currency, err := billing.Currency(ctx, q)
	if err != nil {
		return funds{}, err
	}
	row, err := q.OrganizationBilling(ctx, store.OrganizationBillingParams{ID: orgID, SeenSince: s.Now().Add(-gap), ExceptApp: exceptApp})
	if err != nil {
		return funds{}, err
	}
	return funds{row: row, threshold: threshold, currency: currency}, nil
}

func paymentRequired(f funds, required int64, detail string) *problem.Problem {
	p := problem.New(http.StatusPaymentRequired, problem.TypePaymentRequired, "Payment required", detail)
	balance := f.row.BalanceMicros
	p.BalanceMicros, p.RequiredMicros, p.Currency = &balance, &required, f.currency
	return p
}

const topUpHint = "top up the wallet (paasctl wallet top-up, POST /api/paas/billing/checkout) or ask an administrator for a credit"

// checkFunds refuses what a suspension or the wallet does not allow:
// while suspended, deploying, starting, restarting or scaling up (403 for
// an admin suspension, 402 for insufficient funds); and, for a change that
// makes the organization cost more an hour (create, scale-up, start, a
// dearer plan), a wallet that does not cover one hour of everything it
// asks to run at the new size (402). costs is the app's cost per hour
// after the change (0 when stopped); grows says whether it costs more.
func (s *server) checkFunds(ctx context.Context, q *store.Queries, orgID, appID uuid.UUID, moves bool, costs int64, grows bool) error {
	if !moves && !grows {
		return nil
	}
	f, err := s.readFunds(ctx, q, orgID, appID)
	if err != nil {
		return err
	}
	if f.row.AdminSuspended && moves {
		return problem.New(http.StatusForbidden, problem.TypeSuspended, "Organization suspended",
			"an administrator suspended the organization ("+f.row.AdminSuspendedReason+"): it cannot deploy, start or scale up until an administrator lifts the suspension")
	}
	if f.row.FundsSuspended && moves {
		return paymentRequired(f, f.threshold+1, fmt.Sprintf(
			"the organization is suspended for insufficient funds: its balance is %s %s, at or under the threshold of %s; it cannot deploy, start or scale up. To continue, %s: its apps then return by themselves",
			billing.Micros(f.row.BalanceMicros), f.currency, billing.Micros(f.threshold), topUpHint))
	}
	if grows {
		need := f.row.DesiredMicrosPerHour + costs
		if f.row.BalanceMicros-f.threshold < need {
			return paymentRequired(f, f.threshold+need, fmt.Sprintf(
				"the balance of %s %s does not cover one hour of the organization's apps at the new size (%s an hour above the threshold of %s); %s",
				billing.Micros(f.row.BalanceMicros), f.currency, billing.Micros(need), billing.Micros(f.threshold), topUpHint))
		}
	}
	return nil
}

func walletOut(f funds) openapi.Wallet {
	w := openapi.Wallet{
		OrganizationId: f.row.ID, OrganizationSlug: f.row.Slug, Currency: f.currency,
		BalanceMicros: f.row.BalanceMicros, ThresholdMicros: f.threshold, BurnMicrosPerHour: f.row.BurnMicrosPerHour,
		RunwayHours: billing.RunwayHours(f.row.BalanceMicros, f.threshold, f.row.BurnMicrosPerHour),
		Suspended:   f.row.Suspended, SuspensionReason: openapi.WalletSuspensionReason(""),
	}
	switch {
	case f.row.AdminSuspended:
		w.SuspensionReason = openapi.AdminAction
		w.SuspensionMessage = "suspended by an administrator: " + f.row.AdminSuspendedReason
	case f.row.FundsSuspended:
		w.SuspensionReason = openapi.InsufficientFunds
		w.SuspensionMessage = fmt.Sprintf("suspended for insufficient funds: the balance is at or under %s %s; %s", billing.Micros(f.threshold), f.currency, topUpHint)
	}
	return w
}

// GetWallet answers the organization's wallet.
func (s *server) GetWallet(c echo.Context, _ openapi.GetWalletParams) error {
	f, err := s.readFunds(c.Request().Context(), s.Store.Queries, org(c).ID, uuid.Nil)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, walletOut(f))
}

func ledgerOut(e store.LedgerEntry) openapi.LedgerEntry {
	return openapi.LedgerEntry{Id: e.ID, AmountMicros: e.AmountMicros, Kind: openapi.LedgerEntryKind(e.Kind),
		Description: e.Description, Reference: deref(e.Reference), CreatedAt: e.CreatedAt}
}

// ListLedger answers a page of the organization's ledger, newest first.
func (s *server) ListLedger(c echo.Context, params openapi.ListLedgerParams) error {
	limit, err := pageLimit(params.Limit)
	if err != nil {
		return err
	}
	before, ok, err := decodeIntCursor(params.Cursor)
	if err != nil {
		return err
	}
	if !ok {
		before = 1<<63 - 1
	}
	rows, err := s.Store.ListLedgerPage(c.Request().Context(), store.ListLedgerPageParams{OrganizationID: org(c).ID, Before: before, Lim: int32(limit + 1)})
	if err != nil {
		return err
	}
	items, next, err := page(rows, limit, func(e store.LedgerEntry) (openapi.LedgerEntry, error) { return ledgerOut(e), nil },
		func(e store.LedgerEntry) string { return strconv.FormatInt(e.ID, 10) })
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, openapi.LedgerList{Items: items, NextCursor: next})
}

// usageWindow resolves from and to (default: the 30 days before now).
func (s *server) usageWindow(from, to *time.Time) (time.Time, time.Time, error) {
	until := s.Now()
	if to != nil {
		until = *to
	}
	since := until.AddDate(0, 0, -30)
	if from != nil {
		since = *from
	}
	if !since.Before(until) {
		return since, until, problem.Malformed("", fe("from", "must be before to"))
	}
	if until.Sub(since) > 400*24*time.Hour {
		return since, until, problem.Malformed("", fe("from", "the window is at most 400 days"))
	}
	return since, until, nil
}

// answerUsage answers the rows (sorted by key) as CSV, or a page of them as JSON.
func answerUsage(c echo.Context, u openapi.Usage, csvOut bool, limitP *int, cursorP *string) error {
	limit, err := pageLimit(limitP)
	if err != nil {
		return err
	}
	after, err := decodeCursor(cursorP)
	if err != nil {
		return err
	}
	sort.Slice(u.Items, func(i, j int) bool { return u.Items[i].Key < u.Items[j].Key })
	for _, r := range u.Items {
		u.TotalCostMicros += r.CostMicros
	}
	if !csvOut {
		rows := u.Items[sort.Search(len(u.Items), func(i int) bool { return u.Items[i].Key > after }):]
		var next string
		u.Items, next, err = page(rows, limit, func(r openapi.UsageRow) (openapi.UsageRow, error) { return r, nil },
			func(r openapi.UsageRow) string { return r.Key })
		if err != nil {
			return err
		}
		u.NextCursor = &next
		return c.JSON(http.StatusOK, u)
	}
	res := c.Response()
	res.Header().Set(echo.HeaderContentType, "text/csv; charset=utf-8")
	res.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="usage-%s.csv"`, u.GroupBy))
	res.WriteHeader(http.StatusOK)
	w := csv.NewWriter(res)
	_ = w.Write([]string{string(u.GroupBy), "name", "replica_seconds", "cost_micros", "currency"})
	for _, r := range u.Items {
		_ = w.Write([]string{r.Key, deref(r.Name), strconv.FormatFloat(r.ReplicaSeconds, 'f', 3, 64), strconv.FormatInt(r.CostMicros, 10), u.Currency})
	}
	w.Flush()
	return w.Error()
}

// GetUsage answers metered usage by app or by day, as JSON or CSV.
func (s *server) GetUsage(c echo.Context, params openapi.GetUsageParams) error {
	ctx := c.Request().Context()
	since, until, err := s.usageWindow(params.From, params.To)
	if err != nil {
		return err
	}
	currency, err := billing.Currency(ctx, s.Store)
	if err != nil {
		return err
	}
	u := openapi.Usage{From: since, To: until, Currency: currency, GroupBy: openapi.UsageGroupByApp, Items: []openapi.UsageRow{}}
	if params.GroupBy != nil && *params.GroupBy == openapi.GetUsageParamsGroupByDay {
		u.GroupBy = openapi.UsageGroupByDay
		rows, err := s.Store.UsageByDay(ctx, store.UsageByDayParams{OrganizationID: org(c).ID, Since: since, Until: until})
		if err != nil {
			return err
		}
		for _, r := range rows {
			u.Items = append(u.Items, openapi.UsageRow{Key: r.Day.UTC().Format("2006-01-02"), ReplicaSeconds: r.ReplicaSeconds, CostMicros: r.CostMicros})
		}
	} else {
		rows, err := s.Store.UsageByApp(ctx, store.UsageByAppParams{OrganizationID: org(c).ID, Since: since, Until: until})
		if err != nil {
			return err
		}
		for _, r := range rows {
			name := r.AppName
			u.Items = append(u.Items, openapi.UsageRow{Key: r.AppID.String(), Name: &name, ReplicaSeconds: r.ReplicaSeconds, CostMicros: r.CostMicros})
		}
	}
	return answerUsage(c, u, params.Format != nil && *params.Format == openapi.GetUsageParamsFormatCsv, params.Limit, params.Cursor)
}

// AdminUsageReport answers metered usage per organization.
func (s *server) AdminUsageReport(c echo.Context, params openapi.AdminUsageReportParams) error {
	ctx := c.Request().Context()
	since, until, err := s.usageWindow(params.From, params.To)
	if err != nil {
		return err
	}
	currency, err := billing.Currency(ctx, s.Store)
	if err != nil {
		return err
	}
	rows, err := s.Store.AdminUsageByOrganization(ctx, store.AdminUsageByOrganizationParams{Since: since, Until: until})
	if err != nil {
		return err
	}
	u := openapi.Usage{From: since, To: until, Currency: currency, GroupBy: openapi.UsageGroupByOrganization, Items: []openapi.UsageRow{}}
	for _, r := range rows {
		u.Items = append(u.Items, openapi.UsageRow{Key: r.Slug, ReplicaSeconds: r.ReplicaSeconds, CostMicros: r.CostMicros})
	}
	return answerUsage(c, u, params.Format != nil && *params.Format == openapi.AdminUsageReportParamsFormatCsv, params.Limit, params.Cursor)
}

func (s *server) adminWallets(ctx context.Context, after string, limit int) ([]openapi.Wallet, []store.AdminListWalletsRow, error) {
	gap, err := billing.MaxGap(ctx, s.Store)
	if err != nil {
		return nil, nil, err
	}
	threshold, err := billing.Threshold(ctx, s.Store)
	if err != nil {
		return nil, nil, err
	}
	currency, err := billing.Currency(ctx, s.Store)
	if err != nil {
		return nil, nil, err
	}
	rows, err := s.Store.AdminListWallets(ctx, store.AdminListWalletsParams{SeenSince: s.Now().Add(-gap), After: after, MaxBalance: 1<<63 - 1, Lim: int32(limit)})
	if err != nil {
		return nil, nil, err
	}
	out := make([]openapi.Wallet, len(rows))
	for i, r := range rows {
		out[i] = walletOut(funds{row: store.OrganizationBillingRow{ID: r.ID, Slug: r.Slug, Name: r.Name, Suspended: r.Suspended,
			AdminSuspended: r.AdminSuspended, AdminSuspendedReason: r.AdminSuspendedReason, FundsSuspended: r.FundsSuspended,
			BalanceMicros: r.BalanceMicros, BurnMicrosPerHour: r.BurnMicrosPerHour},
			threshold: threshold, currency: currency})
	}
	return out, rows, nil
}

// AdminListWallets answers a page of every organization's wallet.
func (s *server) AdminListWallets(c echo.Context, params openapi.AdminListWalletsParams) error {
	limit, err := pageLimit(params.Limit)
	if err != nil {
		return err
	}
	after, err := decodeCursor(params.Cursor)
	if err != nil {
		return err
	}
	wallets, _, err := s.adminWallets(c.Request().Context(), after, limit+1)
	if err != nil {
		return err
	}
	items, next, err := page(wallets, limit, func(w openapi.Wallet) (openapi.Wallet, error) { return w, nil },
		func(w openapi.Wallet) string { return w.OrganizationSlug })
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, openapi.WalletList{Items: items, NextCursor: next})
}

// AdminListLowWallets answers a page of the organizations suspended for
// funds or with under a day of runway at the current burn, by slug.
func (s *server) AdminListLowWallets(c echo.Context, params openapi.AdminListLowWalletsParams) error {
	limit, err := pageLimit(params.Limit)
	if err != nil {
		return err
	}
	after, err := decodeCursor(params.Cursor)
	if err != nil {
		return err
	}
	var low []openapi.Wallet
	for len(low) <= limit {
		wallets, rows, err := s.adminWallets(c.Request().Context(), after, 1000)
		if err != nil {
			return err
		}
		for i, w := range wallets {
			if rows[i].FundsSuspended || (w.RunwayHours != nil && *w.RunwayHours < 24) {
				low = append(low, w)
			}
		}
		if len(rows) < 1000 {
			break
		}
		after = rows[len(rows)-1].Slug
	}
	items, next, err := page(low, limit, func(w openapi.Wallet) (openapi.Wallet, error) { return w, nil },
		func(w openapi.Wallet) string { return w.OrganizationSlug })
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, openapi.WalletList{Items: items, NextCursor: next})
}

type adjustmentRequest struct {
	AmountMicros *int64  `json:"amount_micros"`
	Reason       *string `json:"reason"`
}

// AdminAdjustWallet credits or debits a wallet once per Idempotency-Key.
// The ledger reference adjustment:<org>:<key> is the idempotency record:
// a concurrent repeat waits on the first one's unique key, then finds it.
func (s *server) AdminAdjustWallet(c echo.Context, ident openapi.OrganizationPath, params openapi.AdminAdjustWalletParams) error {
	ctx := c.Request().Context()
	var req adjustmentRequest
	if err := readJSON(c, &req); err != nil {
		return err
	}
	var errs []problem.FieldError
	if req.AmountMicros == nil || *req.AmountMicros == 0 {
		errs = append(errs, fe("amount_micros", "is required and must not be zero (negative to debit)"))
	}
	if req.Reason == nil || strings.TrimSpace(*req.Reason) == "" || len(*req.Reason) > 500 || !dbText(*req.Reason) {
		errs = append(errs, fe("reason", "is required: a sentence of at most 500 characters"))
	}
	key := strings.TrimSpace(params.IdempotencyKey)
	if key == "" || len(key) > 200 || !dbText(key) {
		return problem.Malformed("", fe("Idempotency-Key", "is required: at most 200 characters"))
	}
	if len(errs) > 0 {
		return problem.Invalid(errs...)
	}
	o, err := findOrganization(ctx, s.Store.Queries, ident)
	if err != nil {
		return err
	}
	ref := "adjustment:" + o.ID.String() + ":" + key
	reason := strings.TrimSpace(*req.Reason)
	var entry store.LedgerEntry
	created := false
	err = s.Store.InTx(ctx, func(q *store.Queries) error {
		rows, err := q.InsertLedgerOnce(ctx, store.InsertLedgerOnceParams{OrganizationID: o.ID, AmountMicros: *req.AmountMicros,
			Kind: "adjustment", Description: reason, Reference: &ref})
		if err != nil {
			return err
		}
		if len(rows) == 0 {
			return nil
		}
		entry, created = rows[0], true
		return audit(ctx, q, caller(c), "wallet.adjust", "organization", o.ID.String(), o.ID,
			map[string]any{"amount_micros": *req.AmountMicros, "reason": reason, "idempotency_key": key})
	})
	if err != nil {
		return err
	}
	if created {
		return c.JSON(http.StatusCreated, ledgerOut(entry))
	}
	entry, err = s.Store.GetLedgerByReference(ctx, &ref)
	if err != nil {
		return err
	}
	if entry.AmountMicros != *req.AmountMicros || entry.Description != reason {
		return problem.Conflict("this Idempotency-Key was used for a different adjustment (" + billing.Micros(entry.AmountMicros) + ": " + entry.Description + ")")
	}
	return c.JSON(http.StatusOK, ledgerOut(entry))
}

type suspensionRequest struct {
	Suspended *bool   `json:"suspended"`
	Reason    *string `json:"reason"`
}

// AdminSetSuspension sets or lifts an admin suspension.
func (s *server) AdminSetSuspension(c echo.Context, ident openapi.OrganizationPath) error {
	ctx := c.Request().Context()
	var req suspensionRequest
	if err := readJSON(c, &req); err != nil {
		return err
	}
	if req.Suspended == nil {
		return problem.Invalid(fe("suspended", "is required"))
	}
	reason := strings.TrimSpace(deref(req.Reason))
	if len(reason) > 500 || !dbText(reason) {
		return problem.Invalid(fe("reason", "is at most 500 characters"))
	}
	if *req.Suspended && reason == "" {
		return problem.Invalid(fe("reason", "is required to suspend: it is shown to the organization"))
	}
	if !*req.Suspended {
		reason = ""
	}
	o, err := findOrganization(ctx, s.Store.Queries, ident)
	if err != nil {
		return err
	}
	err = s.Store.InTx(ctx, func(q *store.Queries) error {
		if _, err := q.SetAdminSuspended(ctx, store.SetAdminSuspendedParams{ID: o.ID, Suspended: *req.Suspended, Reason: reason}); err != nil {
			return err
		}
		return audit(ctx, q, caller(c), "organization.suspension", "organization", o.ID.String(), o.ID,
			map[string]any{"suspended": *req.Suspended, "reason": reason})
	})
	if err != nil {
		return err
	}
	f, err := s.readFunds(ctx, s.Store.Queries, o.ID, uuid.Nil)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, walletOut(f))
}

type checkoutRequest struct {
	AmountMicros *int64  `json:"amount_micros"`
	SuccessURL   *string `json:"success_url"`
	CancelURL    *string `json:"cancel_url"`
}

// CreateCheckout starts a Stripe Checkout session for a top-up; the
// wallet is credited only by the signed webhook.
func (s *server) CreateCheckout(c echo.Context, _ openapi.CreateCheckoutParams) error {
	ctx := c.Request().Context()
	var req checkoutRequest
	if err := readJSON(c, &req); err != nil {
		return err
	}
	// Stripe charges in cents: whole cents only, at least 0.50.
	if req.AmountMicros == nil || *req.AmountMicros < 500_000 || *req.AmountMicros%10_000 != 0 || *req.AmountMicros > 1_000_000_000_000 {
		return problem.Invalid(fe("amount_micros", "must be a whole number of cents, at least 500000 (0.50)"))
	}
	key, err := s.secretSetting(ctx, s.Store, settingStripeSecret)
	if err != nil {
		return err
	}
	if key == "" {
		return problem.Conflict("self-service top-up is not configured (no " + settingStripeSecret + "); ask an administrator for a credit")
	}
	currency, err := billing.Currency(ctx, s.Store)
	if err != nil {
		return err
	}
	success, cancel := deref(req.SuccessURL), deref(req.CancelURL)
	if success == "" {
		if success, err = store.StringSetting(ctx, s.Store, settingCheckoutSuccessURL); err != nil {
			return err
		}
	}
	if cancel == "" {
		if cancel, err = store.StringSetting(ctx, s.Store, settingCheckoutCancelURL); err != nil {
			return err
		}
	}
	o := org(c)
	params := &stripe.CheckoutSessionCreateParams{
		Mode:              stripe.String(string(stripe.CheckoutSessionModePayment)),
		ClientReferenceID: stripe.String(o.ID.String()),
		LineItems: []*stripe.CheckoutSessionCreateLineItemParams{{
			Quantity: stripe.Int64(1),
			PriceData: &stripe.CheckoutSessionCreateLineItemPriceDataParams{
				Currency:    stripe.String(strings.ToLower(currency)),
				UnitAmount:  stripe.Int64(*req.AmountMicros / 10_000),
				ProductData: &stripe.CheckoutSessionCreateLineItemPriceDataProductDataParams{Name: stripe.String("Wallet top-up: " + o.Slug)},
			},
		}},
		Metadata: map[string]string{"organization_id": o.ID.String(), "amount_micros": strconv.FormatInt(*req.AmountMicros, 10)},
	}
	if success != "" {
		params.SuccessURL = stripe.String(success)
	}
	if cancel != "" {
		params.CancelURL = stripe.String(cancel)
	}
	var opts []stripe.ClientOption
	if s.StripeURL != "" {
		opts = append(opts, stripe.WithBackends(stripe.NewBackendsWithConfig(&stripe.BackendConfig{URL: stripe.String(s.StripeURL)})))
	}
	sess, err := stripe.NewClient(key, opts...).V1CheckoutSessions.Create(ctx, params)
	if err != nil {
		return problem.New(http.StatusBadGateway, problem.TypeInternal, "Stripe refused", "Stripe did not create the session: "+err.Error())
	}
	return c.JSON(http.StatusCreated, openapi.Checkout{SessionId: sess.ID, Url: sess.URL})
}

// StripeWebhook credits a wallet from a signed checkout.session.completed
// event, once per session (ledger reference stripe:<session id>). A bad
// signature answers 400 and records nothing.
func (s *server) StripeWebhook(c echo.Context, params openapi.StripeWebhookParams) error {
	ctx := c.Request().Context()
	secret, err := s.secretSetting(ctx, s.Store, settingStripeWebhookSecret)
	if err != nil {
		return err
	}
	if secret == "" {
		return problem.Conflict("no " + settingStripeWebhookSecret + " is configured")
	}
	payload, err := readBody(c)
	if err != nil {
		return err
	}
	ev, err := webhook.ConstructEventWithOptions(payload, deref(params.StripeSignature), secret, webhook.ConstructEventOptions{IgnoreAPIVersionMismatch: true})
	if err != nil {
		return problem.Malformed("the Stripe-Signature does not verify: " + err.Error())
	}
	if ev.Type != stripe.EventTypeCheckoutSessionCompleted {
		return c.JSON(http.StatusOK, openapi.WebhookAck{Received: true})
	}
	var sess stripe.CheckoutSession
	if err := json.Unmarshal(ev.Data.Raw, &sess); err != nil || sess.ID == "" {
		return problem.Malformed("the event carries no checkout session")
	}
	orgID, err1 := uuid.Parse(sess.Metadata["organization_id"])
	amount, err2 := strconv.ParseInt(sess.Metadata["amount_micros"], 10, 64)
	if err1 != nil || err2 != nil || amount <= 0 {
		return problem.Malformed("the session was not created by this installation (metadata organization_id, amount_micros)")
	}
	credited := false
	if sess.PaymentStatus == stripe.CheckoutSessionPaymentStatusPaid {
		ref := "stripe:" + sess.ID
		rows, err := s.Store.InsertLedgerOnce(ctx, store.InsertLedgerOnceParams{OrganizationID: orgID, AmountMicros: amount, Kind: "topup",
			Description: "Stripe Checkout " + sess.ID, Reference: &ref})
		if err != nil {
			if store.IsForeignKeyViolation(err) {
				return c.JSON(http.StatusOK, openapi.WebhookAck{Received: true}) // the organization is gone
			}
			return err
		}
		credited = len(rows) > 0
	}
	return c.JSON(http.StatusOK, openapi.WebhookAck{Received: true, Credited: &credited})
}
