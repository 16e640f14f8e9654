package billing

import (
	"context"
	"fmt"
	"time"

	"github.com/docker/docker/api/types/swarm"
	"github.com/google/uuid"

	"github.com/skypanel/paas/controllers/runtime"
	"github.com/skypanel/paas/controllers/servicespec"
	"github.com/skypanel/paas/controllers/status"
	"github.com/skypanel/paas/store"
	"github.com/skypanel/paas/store/billing"
	"github.com/skypanel/paas/store/key"
)

// MeterName is the meter loop's name in the registry.
const MeterName = "meter"

// Services is the observed cache the meter reads.
type Services interface {
	Get(appID string) (swarm.Service, bool)
}

// Meter is the meter loop (kind app): it records what each app's service
// really runs (running tasks, from the observed cache) as replica intervals,
// and owns the app's Suspended condition. It writes nothing to Swarm.
type Meter struct {
	Store    *store.Store
	Services Services
	Now      func() time.Time
}

// Reconcile records one observation of an app.
func (m *Meter) Reconcile(ctx context.Context, k key.Key) (runtime.Result, error) {
	id, err := k.UUID()
	if err != nil {
		return runtime.Result{}, nil
	}
	now := m.Now()
	gap, err := billing.MaxGap(ctx, m.Store)
	if err != nil {
		return runtime.Result{}, err
	}
	row, err := m.Store.GetAppDesired(ctx, id)
	if store.IsNotFound(err) {
		return runtime.Result{}, nil // the row is gone: its last interval closed at its last observation
	}
	if err != nil {
		return runtime.Result{}, fmt.Errorf("read app: %w", err)
	}
	running := int32(0)
	observed := row.App.DeletedAt != nil // a deleted app runs nothing we charge for
	if svc, ok := m.Services.Get(id.String()); ok && svc.ServiceStatus != nil {
		running, observed = int32(min(svc.ServiceStatus.RunningTasks, 1<<20)), true
	} else if !ok {
		observed = true // no service: nothing runs
	}
	if observed && row.App.DeletedAt != nil {
		running = 0
	}
	if observed {
		if err := m.Store.MeterApp(ctx, store.MeterAppParams{
			AppID: id, AppName: row.App.Name, OrganizationID: row.App.OrganizationID,
			PlanID: uuid.NullUUID{UUID: row.Plan.ID, Valid: true}, PriceHourlyMicros: row.Plan.PriceHourlyMicros,
			Replicas: running, Now: now, MaxGapSeconds: gap.Seconds(),
		}); err != nil {
			return runtime.Result{}, fmt.Errorf("meter: %w", err)
		}
	}
	if row.App.DeletedAt != nil {
		return runtime.Result{}, nil
	}
	return runtime.Result{}, m.writeSuspended(ctx, row, now)
}

// SuspendedCondition is an app's Suspended condition for its organization.
func SuspendedCondition(o store.Organization) servicespec.Condition {
	switch {
	case o.AdminSuspended:
		msg := "an administrator suspended the organization; apps are scaled to zero until an administrator lifts it"
		if o.AdminSuspendedReason != "" {
			msg += " (reason: " + o.AdminSuspendedReason + ")"
		}
		return servicespec.Condition{Type: servicespec.ConditionSuspended, Status: servicespec.StatusTrue, Reason: "AdminAction", Message: msg}
	case o.FundsSuspended:
		return servicespec.Condition{Type: servicespec.ConditionSuspended, Status: servicespec.StatusTrue, Reason: "InsufficientFunds",
			Message: "the organization's wallet is at or under the suspension threshold; apps are scaled to zero until it is topped up"}
	}
	return servicespec.Condition{Type: servicespec.ConditionSuspended, Status: servicespec.StatusFalse, Reason: "Active",
		Message: "the organization is in good standing"}
}

func (m *Meter) writeSuspended(ctx context.Context, row store.GetAppDesiredRow, now time.Time) error {
	o, err := m.Store.GetOrganization(ctx, row.App.OrganizationID)
	if err != nil {
		return fmt.Errorf("read organization: %w", err)
	}
	have, err := status.Decode(row.App.Conditions)
	if err != nil {
		return err
	}
	want := []servicespec.Condition{SuspendedCondition(o)}
	if !status.Differ(have, want) {
		return nil
	}
	return status.SetConditions(ctx, m.Store, row.App.ID, want, now)
}
