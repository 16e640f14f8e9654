package servicespec

import (
	"cmp"
	"slices"
	"time"
)

// Condition types an app carries, Kubernetes style.
const (
	// ConditionReady is True when every desired replica of the current release runs.
	ConditionReady = "Ready"
	// ConditionProgressing is True while a rollout is under way.
	ConditionProgressing = "Progressing"
	// ConditionDegraded is True when something is wrong that the loop cannot fix alone (failed rollout, crash loop).
	ConditionDegraded = "Degraded"
	// ConditionSuspended is True while billing keeps the app scaled to zero.
	ConditionSuspended = "Suspended"
	// ConditionRouted is True when Traefik's labels on the app's service route its hostnames.
	ConditionRouted = "Routed"
)

// Condition statuses.
const (
	// StatusTrue means the condition holds.
	StatusTrue = "True"
	// StatusFalse means the condition does not hold.
	StatusFalse = "False"
	// StatusUnknown means the loop could not tell (not yet observed, Swarm unreachable).
	StatusUnknown = "Unknown"
)

// ReasonStopped is the Ready=False reason the app loop uses when the user scaled the app to zero, which Phase reports as Stopped.
const ReasonStopped = "Stopped"

// Condition is one observation about an app, as the API shows it.
type Condition struct {
	Type               string    `json:"type"`
	Status             string    `json:"status"`
	Reason             string    `json:"reason"`  // one CamelCase word
	Message            string    `json:"message"` // one sentence
	LastTransitionTime time.Time `json:"last_transition_time"`
}

// conditionOrder fixes where known types sit so the list reads the same in every answer.
var conditionOrder = []string{ConditionReady, ConditionProgressing, ConditionDegraded, ConditionSuspended, ConditionRouted}

// ConditionOrder returns the display order of the known condition types;
// others follow, by name. The SQL merge sorts by it.
func ConditionOrder() []string { return slices.Clone(conditionOrder) }

// Summary is an app's status message: the most pressing condition's
// message (Suspended, Degraded, Progressing when true; else Ready's).
func Summary(conds []Condition) string {
	for _, typ := range []string{ConditionSuspended, ConditionDegraded, ConditionProgressing} {
		if c := FindCondition(conds, typ); c != nil && c.Status == StatusTrue {
			return c.Message
		}
	}
	if c := FindCondition(conds, ConditionReady); c != nil {
		return c.Message
	}
	return ""
}

// SetCondition returns conds with c set (the input is not modified): LastTransitionTime becomes now only when the status flips or the type is new, so it dates the last real change rather than the last reconcile; order is stable by type.
func SetCondition(conds []Condition, c Condition, now time.Time) []Condition {
	out := slices.Clone(conds)
	if i := slices.IndexFunc(out, func(x Condition) bool { return x.Type == c.Type }); i >= 0 {
		c.LastTransitionTime = out[i].LastTransitionTime
		if out[i].Status != c.Status {
			c.LastTransitionTime = now
		}
		out[i] = c
	} else {
		c.LastTransitionTime = now
		out = append(out, c)
	}
	slices.SortStableFunc(out, func(a, b Condition) int {
		return cmp.Or(cmp.Compare(typeRank(a.Type), typeRank(b.Type)), cmp.Compare(a.Type, b.Type))
	})
	return out
}

func typeRank(t string) int {
	if i := slices.Index(conditionOrder, t); i >= 0 {
		return i
	}
	return len(conditionOrder)
}

// FindCondition returns the condition of type typ in conds, or nil; the pointer aliases the slice element.
func FindCondition(conds []Condition, typ string) *Condition {
	for i := range conds {
		if conds[i].Type == typ {
			return &conds[i]
		}
	}
	return nil
}

// Summary phases Phase derives, for humans; clients decide on conditions, not on these.
const (
	PhaseDeleting  = "Deleting"  // deleted_at is set; the finalizer is removing the service
	PhaseSuspended = "Suspended" // billing scaled the app to zero
	PhaseStopped   = "Stopped"   // the user scaled the app to zero
	PhaseDeploying = "Deploying" // a rollout is under way
	PhaseFailed    = "Failed"    // degraded and not serving
	PhaseDegraded  = "Degraded"  // serving, but a rollout failed or tasks are crashing
	PhaseRunning   = "Running"   // ready and nothing wrong
	PhasePending   = "Pending"   // nothing observed yet, or not ready without a known cause
)

// Phase summarizes conditions in one word. Precedence, highest first:
// Deleting, Suspended (billing overrides whatever the app was doing),
// Stopped (Ready=False with reason Stopped), Deploying (a new rollout matters
// more than the failure of the previous one), Degraded while still Ready or
// Failed when not, Running, and Pending for everything else.
func Phase(conds []Condition, deleting bool) string {
	is := func(typ, status string) bool {
		c := FindCondition(conds, typ)
		return c != nil && c.Status == status
	}
	ready := FindCondition(conds, ConditionReady)
	switch {
	case deleting:
		return PhaseDeleting
	case is(ConditionSuspended, StatusTrue):
		return PhaseSuspended
	case ready != nil && ready.Status == StatusFalse && ready.Reason == ReasonStopped:
		return PhaseStopped
	case is(ConditionProgressing, StatusTrue):
		return PhaseDeploying
	case is(ConditionDegraded, StatusTrue) && is(ConditionReady, StatusTrue):
		return PhaseDegraded
	case is(ConditionDegraded, StatusTrue):
		return PhaseFailed
	case is(ConditionReady, StatusTrue):
		return PhaseRunning
	default:
		return PhasePending
	}
}
