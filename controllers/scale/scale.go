// Package scale holds the scale loop: it owns one field of each app's Swarm
// service, the replica count (and the restart counter, TaskTemplate.
// ForceUpdate), and keeps it at the user's replicas, or zero while the app
// is stopped or its organization suspended.
package scale

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/docker/docker/api/types"
	"github.com/docker/docker/api/types/swarm"
	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/skypanel/paas/controllers/app"
	"github.com/skypanel/paas/controllers/observed"
	"github.com/skypanel/paas/controllers/runtime"
	"github.com/skypanel/paas/controllers/servicespec"
	"github.com/skypanel/paas/store"
)

// Store is the part of the database the scale loop uses.
type Store interface {
	GetAppDesired(ctx context.Context, id uuid.UUID) (store.GetAppDesiredRow, error)
	RecordEvent(ctx context.Context, arg store.RecordEventParams) (store.Event, error)
}

// Docker is the one engine call the scale loop makes.
type Docker interface {
	ServiceUpdate(ctx context.Context, id string, version swarm.Version, spec swarm.ServiceSpec, opts types.ServiceUpdateOptions) (swarm.ServiceUpdateResponse, error)
}

// Reconciler is the scale loop; configure it by fields.
type Reconciler struct {
	// Store reads desired replicas and records events.
	Store Store
	// Docker writes the replica count.
	Docker Docker
	// Services is the observed-state cache shared with the app loop.
	Services *observed.Services
	// Now reads the clock for event timestamps.
	Now func() time.Time
	// DriftCorrections, when set, counts hand edits reverted (label loop="scale").
	DriftCorrections *prometheus.CounterVec
}

const controllerName = "scale"

// Reconcile converges one app's replica count. A missing service is the
// app loop's to create; a deleted app is the app loop's to remove.
func (r *Reconciler) Reconcile(ctx context.Context, key string) (runtime.Result, error) {
	id, err := app.ParseKey(key)
	if err != nil {
		return runtime.Result{}, nil
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
	for attempt := 0; ; attempt++ {
		svc, ok := r.Services.Get(id.String())
		if !ok {
			return runtime.Result{}, nil
		}
		plan := servicespec.PlanScale(want, uint64(row.App.RestartCount), svc)
		if !plan.Update {
			return runtime.Result{}, nil
		}
		spec := observed.SpecForWrite(svc)
		if spec.Mode.Replicated == nil {
			return runtime.Result{}, fmt.Errorf("service %s is not replicated", spec.Name)
		}
		replicas := plan.Replicas
		spec.Mode.Replicated = &swarm.ReplicatedService{Replicas: &replicas}
		spec.TaskTemplate.ForceUpdate = plan.ForceUpdate
		_, err := r.Docker.ServiceUpdate(ctx, svc.ID, svc.Version, spec, types.ServiceUpdateOptions{})
		if err != nil && strings.Contains(err.Error(), "update out of sequence") && attempt < 5 {
			if _, _, err := r.Services.Refresh(ctx, svc.ID); err != nil {
				return runtime.Result{}, err
			}
			continue
		}
		if err != nil {
			return runtime.Result{}, fmt.Errorf("scale service: %w", err)
		}
		r.record(ctx, row, plan, want)
		if _, _, err := r.Services.Refresh(ctx, svc.ID); err != nil {
			return runtime.Result{}, err
		}
		return runtime.Result{}, nil
	}
}

// record says what the write did and why. A count that differs from what
// the platform last decided (status.desired_replicas) is the user's change;
// one that matches it was edited by hand and is drift.
func (r *Reconciler) record(ctx context.Context, row store.GetAppDesiredRow, plan servicespec.ScalePlan, want uint64) {
	typ, reason := "Normal", "Scaled"
	var msg string
	scaled := plan.Before != plan.Replicas
	switch {
	case scaled && uint64(row.App.DesiredReplicas) == want && row.App.ObservedGeneration > 0:
		typ, reason = "Warning", "DriftReverted"
		msg = fmt.Sprintf("reverted hand edit: replicas %d -> %d", plan.Before, plan.Replicas)
		if r.DriftCorrections != nil {
			r.DriftCorrections.WithLabelValues(controllerName).Inc()
		}
	case scaled:
		msg = fmt.Sprintf("scaled replicas %d -> %d%s", plan.Before, plan.Replicas, why(row))
	}
	if plan.Reason == servicespec.ReasonRestarted || plan.Reason == servicespec.ReasonScaledAndRestarted {
		if msg != "" {
			msg += "; "
		} else {
			reason = "Restarted"
		}
		msg += fmt.Sprintf("rolling restart (restart #%d)", plan.ForceUpdate)
	}
	zerolog.Ctx(ctx).Info().Str("app", row.App.ID.String()).Str("reason", reason).Msg(msg)
	if _, err := r.Store.RecordEvent(ctx, store.RecordEventParams{
		ObjectKind: "app", ObjectID: row.App.ID, Type: typ, Reason: reason, Message: msg,
		ReportingController: controllerName, At: r.Now(),
	}); err != nil {
		zerolog.Ctx(ctx).Warn().Err(err).Msg("record event")
	}
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
