package billing

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/rs/zerolog"

	"github.com/skypanel/paas/controllers/runtime"
	"github.com/skypanel/paas/store"
	"github.com/skypanel/paas/store/billing"
	"github.com/skypanel/paas/store/key"
)

// WalletName is the wallet loop's name in the registry.
const WalletName = "billing"

// Wallet is the wallet loop (kind org): suspension for insufficient funds
// as desired state, lifted by a credit, and the runway notifications.
type Wallet struct {
	Store *store.Store
	Now   func() time.Time
}

// Decision is what the wallet loop wants for one organization.
type Decision struct {
	FundsSuspended bool
	State          string // ok, low, suspended
}

// Decide is the wallet loop's pure plan. An organization is suspended when
// its balance is at or under the threshold while it asks for something
// that costs (an organization with nothing priced to run is left alone);
// a suspension is lifted as soon as the balance is above the threshold.
// Its state is low when what runs now would reach the threshold within 24
// hours.
func Decide(balance, threshold, burnPerHour, desiredPerHour int64, suspended bool) Decision {
	switch {
	case balance <= threshold && (suspended || desiredPerHour > 0):
		return Decision{FundsSuspended: true, State: "suspended"}
	case burnPerHour > 0 && balance-threshold < 24*burnPerHour:
		return Decision{State: "low"}
	}
	return Decision{State: "ok"}
}

// Reconcile decides one organization's suspension and notifications.
func (w *Wallet) Reconcile(ctx context.Context, k key.Key) (runtime.Result, error) {
	id, err := uuid.Parse(k.Name)
	if err != nil {
		return runtime.Result{}, nil
	}
	now := w.Now()
	gap, err := billing.MaxGap(ctx, w.Store)
	if err != nil {
		return runtime.Result{}, err
	}
	threshold, err := billing.Threshold(ctx, w.Store)
	if err != nil {
		return runtime.Result{}, err
	}
	err = w.Store.InTx(ctx, func(q *store.Queries) error {
		// The organization's row lock orders this against the API's
		// suspension checks; the wallet row is never locked here.
		if _, err := q.APILockOrganization(ctx, id); err != nil {
			return err
		}
		o, err := q.OrganizationBilling(ctx, store.OrganizationBillingParams{ID: id, SeenSince: now.Add(-gap)})
		if err != nil {
			return err
		}
		d := Decide(o.BalanceMicros, threshold, o.BurnMicrosPerHour, o.DesiredMicrosPerHour, o.FundsSuspended)
		if d.FundsSuspended == o.FundsSuspended && d.State == o.BillingState {
			return nil
		}
		if _, err := q.SetFundsSuspended(ctx, store.SetFundsSuspendedParams{ID: id, Suspended: d.FundsSuspended, State: d.State}); err != nil {
			return err
		}
		// One notification per change of state: the state column is the
		// deduplication (a repeated reconcile finds nothing to change).
		var kind, title, body string
		switch {
		case d.FundsSuspended && !o.FundsSuspended:
			kind, title = "suspended", "Organization suspended: wallet empty"
			body = fmt.Sprintf("The balance is %s, at or under the threshold of %s; every app is scaled to zero. Top up the wallet and they come back by themselves.",
				billing.Micros(o.BalanceMicros), billing.Micros(threshold))
		case !d.FundsSuspended && o.FundsSuspended:
			kind, title = "restored", "Organization restored"
			body = fmt.Sprintf("The balance is %s; every app returns to the replicas asked for.", billing.Micros(o.BalanceMicros))
		case d.State == "low":
			kind, title = "runway_low", "Wallet runs out within a day"
			body = fmt.Sprintf("The balance of %s lasts about %.1f hours at the current burn of %s an hour; top up to keep your apps running.",
				billing.Micros(o.BalanceMicros), *billing.RunwayHours(o.BalanceMicros, threshold, o.BurnMicrosPerHour), billing.Micros(o.BurnMicrosPerHour))
		}
		if kind == "" {
			return nil
		}
		zerolog.Ctx(ctx).Info().Str("org", o.Slug).Str("notification", kind).Int64("balance_micros", o.BalanceMicros).Msg("billing: " + title)
		_, err = q.InsertNotification(ctx, store.InsertNotificationParams{OrganizationID: uuid.NullUUID{UUID: id, Valid: true},
			Kind: kind, Title: title, Body: body, CreatedAt: now})
		return err
	})
	if store.IsNotFound(err) {
		return runtime.Result{}, nil
	}
	return runtime.Result{}, err
}
