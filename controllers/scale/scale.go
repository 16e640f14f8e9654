// Package scale holds the scale loop: it owns two fields of each app's
// Swarm service, the replica count and the restart counter (TaskTemplate.
// ForceUpdate), and keeps them at the user's replicas, or zero while the
// app is stopped or its organization suspended. The Suspended condition,
// which says why (InsufficientFunds, AdminAction), is the billing meter
// loop's (controllers/billing).
package scale

import (
	"context"
	"fmt"
	"time"

	"github.com/docker/docker/api/types/swarm"
	"github.com/google/uuid"

	"github.com/skypanel/paas/controllers/app"
	"github.com/skypanel/paas/controllers/runtime"
	"github.com/skypanel/paas/controllers/servicespec"
	"github.com/skypanel/paas/controllers/servicewrite"
	"github.com/skypanel/paas/controllers/status"
	"github.com/skypanel/paas/store"
	"github.com/skypanel/paas/store/key"
)

// Name is the scale loop's name in the registry, events and metrics.
const Name = "scale"

// Owns is what the scale loop writes of an app's service.
var Owns = servicespec.Fields{Replicas: true, ForceUpdate: true}

// Store is the part of the database the scale loop uses.
type Store interface {
	GetAppDesired(ctx context.Context, id uuid.UUID) (store.GetAppDesiredRow, error)
	status.Store
}

// Writer writes the scale loop's fields of a service.
type Writer interface {
	Update(ctx context.Context, loop string, app uuid.UUID, plan servicewrite.PlanFunc) (*swarm.Service, error)
}

// Reconciler is the scale loop; configure it by fields.
type Reconciler struct {
	// Store reads desired replicas.
	Store Store
	// Writer writes the replica count and restart counter.
	Writer Writer
	// Now reads the clock.
	Now func() time.Time
}

// Reconcile converges one app's replica count and restart counter. A
// missing service is the app loop's to create; a deleted app is the app
// loop's to remove.
func (r *Reconciler) Reconcile(ctx context.Context, k key.Key) (runtime.Result, error) {
	id, err := k.UUID()
	if err != nil {
		return runtime.Result{}, nil // malformed keys are dropped, not retried
	}
	row, err := r.Store.GetAppDesired(ctx, id)
	if store.IsNotFound(err) {
		return runtime.Result{}, nil
	}
	if err != nil {
		return runtime.Result{}, fmt.Errorf("read app: %w", err)
	}
	if row.App.DeletedAt != nil {
		return runtime.Result{}, nil
	}
	want := app.DesiredReplicas(row)
	_, err = r.Writer.Update(ctx, Name, id, func(live swarm.Service) (*servicewrite.Change, error) {
		plan := servicespec.PlanScale(want, uint64(row.App.RestartCount), live)
		if !plan.Update {
			return nil, nil
		}
		if live.Spec.Mode.Replicated == nil {
			return nil, fmt.Errorf("service %s is not replicated", live.Spec.Name)
		}
		spec := live.Spec
		replicas := plan.Replicas
		spec.Mode = swarm.ServiceMode{Replicated: &swarm.ReplicatedService{Replicas: &replicas}}
		spec.TaskTemplate.ForceUpdate = plan.ForceUpdate
		ch := describe(row, plan, want)
		ch.Spec = spec
		return &ch, nil
	})
	return runtime.Result{}, err
}

// describe says what a write does and why. A count that differs from what
// the platform last decided (status.desired_replicas) is the user's change;
// one that matches it was edited by hand and is drift.
func describe(row store.GetAppDesiredRow, plan servicespec.ScalePlan, want uint64) servicewrite.Change {
	ch := servicewrite.Change{Type: servicewrite.Normal, Reason: "Scaled"}
	scaled := plan.Before != plan.Replicas
	switch {
	case scaled && uint64(row.App.DesiredReplicas) == want && row.App.ObservedGeneration > 0:
		ch.Type, ch.Reason = servicewrite.Warning, servicewrite.ReasonDriftReverted
		ch.Message = fmt.Sprintf("reverted hand edit: replicas %d -> %d", plan.Before, plan.Replicas)
	case scaled:
		ch.Message = fmt.Sprintf("scaled replicas %d -> %d%s", plan.Before, plan.Replicas, why(row))
	}
	if plan.Reason == servicespec.ReasonRestarted || plan.Reason == servicespec.ReasonScaledAndRestarted {
		if ch.Message != "" {
			ch.Message += "; "
		} else {
			ch.Reason = "Restarted"
		}
		ch.Message += fmt.Sprintf("rolling restart (restart #%d)", plan.ForceUpdate)
	}
	return ch
}

func why(row store.GetAppDesiredRow) string {
	switch {
	case row.OrgSuspended:
		return " (organization suspended)"
	case row.App.Stopped:
		return " (app stopped)"
	}
	return ""
}
