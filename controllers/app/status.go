package app

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/docker/docker/api/types/swarm"
	"github.com/google/uuid"
	"github.com/rs/zerolog"

	"github.com/skypanel/paas/controllers/servicespec"
	"github.com/skypanel/paas/controllers/status"
	"github.com/skypanel/paas/store"

	"time"
)

// statusInput is everything one reconcile learned, from which status is
// derived.
type statusInput struct {
	now     time.Time
	release releaseDecision
	// service is the service as observed after any write; nil when none.
	service *swarm.Service
	// rollout is the target release's rollout, nil when not deploying.
	rollout *servicespec.RolloutStatus
	// blocked is a failure the user must fix, nil when none.
	blocked *conditionError
	// desired is the replica count the scale loop converges the service on.
	desired uint64
	// tasks is what the tasks say (updated replicas, a problem); nil when unknown.
	tasks *taskHealth
	// awaitingBuild says the app has no image yet: it was created from
	// source and no build has succeeded (no release, no service).
	awaitingBuild bool
}

// problem is the tasks' problem, nil when none is known.
func (in statusInput) problem() *taskProblem {
	if in.tasks == nil {
		return nil
	}
	return in.tasks.problem
}

func running(svc *swarm.Service) uint64 {
	if svc == nil || svc.ServiceStatus == nil {
		return 0
	}
	return svc.ServiceStatus.RunningTasks
}

// updating reports whether Swarm is replacing the service's tasks (a
// rolling restart or the rollout of a repaired spec).
func updating(svc *swarm.Service) bool {
	return svc != nil && svc.UpdateStatus != nil &&
		(svc.UpdateStatus.State == swarm.UpdateStateUpdating || svc.UpdateStatus.State == swarm.UpdateStateRollbackStarted)
}

// settled reports whether nothing will change without an outside event, so
// the app needs no polling.
func (in statusInput) settled() bool {
	if in.blocked != nil || in.service == nil {
		return in.blocked == nil
	}
	if in.release.Latest != nil && in.release.Latest.Status == "deploying" || updating(in.service) {
		return false
	}
	// The scale loop may not have acted yet (its change raises an event
	// this loop could miss): poll until the service has the desired
	// replicas, all running.
	if r := in.service.Spec.Mode.Replicated; r != nil && r.Replicas != nil &&
		(*r.Replicas != in.desired || *r.Replicas != running(in.service)) {
		return false
	}
	return true
}

// ReasonAwaitingBuild is the Ready and Progressing reason of an app created
// from source whose first build has not succeeded.
const ReasonAwaitingBuild = "AwaitingBuild"

// ownConditions are the condition types the app loop writes; others
// (Suspended from the scale loop, Routed from the domain loop, ...) are
// left to their loops by the per-type merge.
var ownConditions = []string{servicespec.ConditionReady, servicespec.ConditionProgressing, servicespec.ConditionDegraded}

// conditions derives the app loop's conditions.
func conditions(row store.GetAppDesiredRow, in statusInput) []servicespec.Condition {
	var conds []servicespec.Condition
	set := func(typ, status, reason, msg string) {
		conds = append(conds, servicespec.Condition{Type: typ, Status: status, Reason: reason, Message: msg})
	}
	want := DesiredReplicas(row)
	run := running(in.service)
	latest := in.release.Latest
	if in.awaitingBuild {
		const msg = "the app is built from source and has no image yet: its first build has not succeeded (paasctl logs APP --build N shows a build's output)"
		set(servicespec.ConditionDegraded, servicespec.StatusFalse, "AsExpected", "no failure observed")
		set(servicespec.ConditionProgressing, servicespec.StatusFalse, ReasonAwaitingBuild, msg)
		set(servicespec.ConditionReady, servicespec.StatusFalse, ReasonAwaitingBuild, msg)
		return conds
	}

	switch {
	case in.blocked != nil:
		set(servicespec.ConditionDegraded, servicespec.StatusTrue, in.blocked.reason, in.blocked.Error())
	case in.problem() != nil:
		set(servicespec.ConditionDegraded, servicespec.StatusTrue, in.problem().reason, in.problem().message)
	case latest != nil && latest.Status == "failed":
		set(servicespec.ConditionDegraded, servicespec.StatusTrue, "RolloutFailed", fmt.Sprintf("release %d failed: %s", latest.Version, latest.Message))
	default:
		set(servicespec.ConditionDegraded, servicespec.StatusFalse, "AsExpected", "no failure observed")
	}

	switch {
	case in.blocked != nil && in.service == nil:
		set(servicespec.ConditionProgressing, servicespec.StatusFalse, in.blocked.reason, "waiting for the problem to be fixed")
	case in.problem() != nil && (latest != nil && latest.Status == "deploying" || in.service != nil && run != want):
		// Not just slow: say why replicas are missing.
		set(servicespec.ConditionProgressing, servicespec.StatusTrue, in.problem().reason,
			fmt.Sprintf("%d/%d replicas running: %s", run, want, in.problem().message))
	case latest != nil && latest.Status == "deploying":
		set(servicespec.ConditionProgressing, servicespec.StatusTrue, "RolloutInProgress",
			fmt.Sprintf("release %d rolling out: %d/%d replicas running", latest.Version, rolloutRunning(in), want))
	case in.service != nil && updating(in.service):
		set(servicespec.ConditionProgressing, servicespec.StatusTrue, "RollingUpdate",
			fmt.Sprintf("Swarm is replacing tasks (restart or repair): %d/%d replicas running", run, want))
	case in.service != nil && run != want:
		set(servicespec.ConditionProgressing, servicespec.StatusTrue, "ScalingReplicas", fmt.Sprintf("%d/%d replicas running", run, want))
	default:
		set(servicespec.ConditionProgressing, servicespec.StatusFalse, "RolloutComplete", "the current release is rolled out")
	}

	switch {
	case in.service == nil:
		set(servicespec.ConditionReady, servicespec.StatusFalse, "ServiceMissing", "no service runs the app yet")
	case want == 0:
		set(servicespec.ConditionReady, servicespec.StatusFalse, servicespec.ReasonStopped, "the app is scaled to zero")
	case run >= want:
		set(servicespec.ConditionReady, servicespec.StatusTrue, "ReplicasReady", fmt.Sprintf("%d/%d replicas running", run, want))
	default:
		set(servicespec.ConditionReady, servicespec.StatusFalse, "ReplicasNotReady", fmt.Sprintf("%d/%d replicas running", run, want))
	}
	return conds
}

func rolloutRunning(in statusInput) uint64 {
	if in.rollout != nil {
		return in.rollout.Running
	}
	return 0
}

// writeStatus records the derived status, skipping the write when nothing
// changed so that resyncs of settled apps cost no writes.
func (r *Reconciler) writeStatus(ctx context.Context, row store.GetAppDesiredRow, in statusInput) {
	app := row.App
	conds := conditions(row, in)
	p := store.RecordAppStatusParams{
		ID: app.ID, ObservedGeneration: app.Generation, Conditions: status.Encode(conds), At: in.now,
		ConditionOrder:  servicespec.ConditionOrder(),
		RunningReplicas: int32(running(in.service)), DesiredReplicas: int32(DesiredReplicas(row)),
		CurrentDeploymentID: app.CurrentDeploymentID, ServiceID: app.ServiceID, UpdatedReplicas: app.UpdatedReplicas,
	}
	if in.tasks != nil {
		p.UpdatedReplicas = int32(in.tasks.updated)
	} else if in.service == nil && in.blocked == nil {
		p.UpdatedReplicas = 0
	}
	if in.blocked != nil {
		// The spec could not be acted on: the generation is not observed,
		// which also makes the next reconcile check the spec again.
		p.ObservedGeneration = app.ObservedGeneration
	}
	if in.release.Target != nil {
		p.CurrentDeploymentID = uuid.NullUUID{UUID: in.release.Target.ID, Valid: true}
	}
	if in.service != nil {
		id := in.service.ID
		p.ServiceID = &id
	}
	if unchanged(app, p, conds) {
		return
	}
	err := status.Write(ctx, r.Store, app.ID, func(q *store.Queries) (status.Merged, error) {
		row, err := q.RecordAppStatus(ctx, p)
		return status.Merged(row), err
	})
	if err != nil && !store.IsNotFound(err) {
		zerolog.Ctx(ctx).Warn().Err(err).Msg("write status")
	}
}

// unchanged reports whether writing p and conds would change nothing the
// app loop owns.
func unchanged(app store.App, p store.RecordAppStatusParams, conds []servicespec.Condition) bool {
	sameSvc := (app.ServiceID == nil && p.ServiceID == nil) || (app.ServiceID != nil && p.ServiceID != nil && *app.ServiceID == *p.ServiceID)
	var have []servicespec.Condition
	if len(app.Conditions) > 0 && json.Unmarshal(app.Conditions, &have) != nil {
		return false
	}
	return app.ObservedGeneration == p.ObservedGeneration && !status.Differ(have, conds) &&
		app.RunningReplicas == p.RunningReplicas && app.DesiredReplicas == p.DesiredReplicas && app.UpdatedReplicas == p.UpdatedReplicas &&
		app.CurrentDeploymentID == p.CurrentDeploymentID && sameSvc
}
