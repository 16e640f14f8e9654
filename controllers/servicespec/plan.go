package servicespec

import (
	"github.com/docker/docker/api/types/swarm"
)

// Action is what the app loop must do to its Swarm service.
type Action string

// The app loop's possible actions.
const (
	// ActionNone means observed already matches desired; writing anyway would only cost a Version bump.
	ActionNone Action = "none"
	// ActionCreate means no service exists yet.
	ActionCreate Action = "create"
	// ActionUpdate means the service exists and an owned field differs.
	ActionUpdate Action = "update"
	// ActionDelete means the app is being deleted and its service still exists.
	ActionDelete Action = "delete"
)

// Reasons PlanApp gives, one CamelCase word each as conditions and events use them.
const (
	// ReasonCreated: no service existed.
	ReasonCreated = "Created"
	// ReasonUpToDate: observed matches desired.
	ReasonUpToDate = "UpToDate"
	// ReasonSpecChanged: the desired spec changed (a new release) since the service was last written.
	ReasonSpecChanged = "SpecChanged"
	// ReasonDriftReverted: the service carries the current spec hash but its fields differ, so someone edited it by hand.
	ReasonDriftReverted = "DriftReverted"
	// ReasonDeleting: the app is being deleted and its service must be removed.
	ReasonDeleting = "Deleting"
	// ReasonDeleted: the app is being deleted and its service is already gone.
	ReasonDeleted = "Deleted"
	// ReasonNotOwned: a service was observed that belongs to another app or installation; the caller must not touch it.
	ReasonNotOwned = "ServiceNotOwned"
)

// AppPlan is the app loop's decision for one app.
type AppPlan struct {
	Action Action
	// Spec is the spec to write on create or update. On update it is the
	// live spec with the app loop's fields replaced (Ownership.Merge), so it
	// keeps the replicas, ForceUpdate and labels other loops own. On create
	// its replicas are Render's placeholder 0: the caller sets the initial
	// count.
	Spec   swarm.ServiceSpec
	Drift  []FieldDiff // owned fields that differ, Before = observed, After = desired
	Reason string
}

// PlanApp decides what loop, the owner of the rest of the service spec in
// own, must do; observed is nil when no service exists.
//
// Only the projection decides whether to write: when the projection of
// what loop owns of observed equals the desired projection nothing is
// written even if the observed spec-hash label differs (that can only mean
// Project itself changed between versions), so replicas, other loops'
// labels and engine-filled defaults never cause a restart. A label no loop
// declared is the app loop's, so a hand-added one is drift it removes. The
// hash only names the reason: observed carrying the desired hash but
// different fields was edited by hand (DriftReverted); a different hash
// means the desired spec moved on (SpecChanged).
func PlanApp(d Desired, observed *swarm.Service, own Ownership, loop string) AppPlan {
	if observed != nil && !ownedBy(observed.Spec.Labels, d) {
		return AppPlan{Action: ActionNone, Reason: ReasonNotOwned}
	}
	if d.Deleting {
		if observed == nil {
			return AppPlan{Action: ActionNone, Reason: ReasonDeleted}
		}
		return AppPlan{Action: ActionDelete, Reason: ReasonDeleting}
	}

	spec := Render(d)
	if observed == nil {
		return AppPlan{Action: ActionCreate, Spec: spec, Reason: ReasonCreated}
	}

	want := Project(spec)
	got := Project(own.Owned(loop, observed.Spec))
	if want.Equal(got) {
		return AppPlan{Action: ActionNone, Reason: ReasonUpToDate}
	}

	reason := ReasonSpecChanged
	if observed.Spec.Labels[LabelSpecHash] == spec.Labels[LabelSpecHash] {
		reason = ReasonDriftReverted
	}
	return AppPlan{
		Action: ActionUpdate,
		Spec:   own.Merge(loop, observed.Spec, spec),
		Drift:  Diff(want, got),
		Reason: reason,
	}
}

// ownedBy reports whether a service's labels place it with this app of this
// installation; a service without our labels (same name, someone else's) is not ours.
func ownedBy(labels map[string]string, d Desired) bool {
	return labels[LabelInstance] == d.InstanceID && labels[LabelAppID] == d.AppID
}

// ScalePlan is the scale loop's decision for one service.
type ScalePlan struct {
	Update      bool   // a write is needed
	Replicas    uint64 // replica count to write
	ForceUpdate uint64 // TaskTemplate.ForceUpdate to write
	Before      uint64 // observed replica count, for the event message ("replicas 9 -> 2")
	Reason      string // ReasonScaled, ReasonRestarted, ReasonScaledAndRestarted or ReasonUpToDate
}

// Reasons PlanScale gives.
const (
	// ReasonScaled: the replica count differs from desired.
	ReasonScaled = "Scaled"
	// ReasonRestarted: the restart counter moved, so ForceUpdate is set to it.
	ReasonRestarted = "Restarted"
	// ReasonScaledAndRestarted: both of the above.
	ReasonScaledAndRestarted = "ScaledAndRestarted"
)

// PlanScale decides the replica count and restart counter; desiredReplicas is already 0 for stopped/suspended apps.
//
// ForceUpdate mirrors restartCounter, an explicit counter kept in Postgres and
// bumped only by a user's restart: equality, not "greater than", is the rule,
// so a hand-run `docker service update --force` is set back (one extra restart)
// rather than swallowing the user's next restart request.
func PlanScale(desiredReplicas uint64, restartCounter uint64, observed swarm.Service) ScalePlan {
	var before uint64
	if r := observed.Spec.Mode.Replicated; r != nil && r.Replicas != nil {
		before = *r.Replicas
	}
	scale := before != desiredReplicas
	restart := observed.Spec.TaskTemplate.ForceUpdate != restartCounter
	p := ScalePlan{
		Update:      scale || restart,
		Replicas:    desiredReplicas,
		ForceUpdate: restartCounter,
		Before:      before,
		Reason:      ReasonUpToDate,
	}
	switch {
	case scale && restart:
		p.Reason = ReasonScaledAndRestarted
	case scale:
		p.Reason = ReasonScaled
	case restart:
		p.Reason = ReasonRestarted
	}
	return p
}
