package servicespec

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/docker/docker/api/types/swarm"
)

// RolloutPhase is where a release's rollout stands, as Swarm reports it.
type RolloutPhase string

// The rollout phases.
const (
	// RolloutProgressing: tasks of the release are still starting or Swarm is still monitoring them.
	RolloutProgressing RolloutPhase = "progressing"
	// RolloutDeployed: Swarm finished the update and every desired replica runs the release.
	RolloutDeployed RolloutPhase = "deployed"
	// RolloutFailed: Swarm paused or is rolling back the update, or the deadline passed.
	RolloutFailed RolloutPhase = "failed"
	// RolloutRolledBack: Swarm rolled the service back to the previous spec; the old release serves.
	RolloutRolledBack RolloutPhase = "rolledback"
)

// RolloutStatus is EvaluateRollout's verdict.
type RolloutStatus struct {
	Phase     RolloutPhase
	Running   uint64 // running tasks of this release
	Desired   uint64 // desired replicas
	Message   string // one sentence for the Progressing/Degraded condition
	TaskError string // error of the most recent failed task of this release, if any
}

// EvaluateRollout reads a service's UpdateStatus and its tasks: done when
// UpdateStatus is nil or completed AND running tasks of this release equal
// desired replicas; paused, rollback_started, rollback_paused are failures and
// rollback_completed is a rollback, reported with the failing task's error;
// past the deadline (zero: none) a rollout still in progress has failed.
//
// A task counts as running when it carries this release's paas.release
// container label (so tasks of the previous release, which start-first keeps
// alive, do not count), its DesiredState is running and its State is running.
// Swarm only reports a task with a healthcheck as running once it is healthy,
// so State running already means healthy where a healthcheck exists.
//
// The cause given with a failure is the newest failed task's error or, when
// no task failed, the scheduler's reason for a task it cannot place
// ("no suitable node (insufficient resources on 1 node)").
//
// startedAt is when the reconciler wrote the release (taken before the write).
// An UpdateStatus that started earlier belongs to a previous rollout and is
// ignored, so a stale rollback_completed cannot fail a fresh release; Swarm also
// resets UpdateStatus on every service update, which makes this a guard for a
// cache that has not seen the write yet.
func EvaluateRollout(svc swarm.Service, tasks []swarm.Task, release int, startedAt, deadline, now time.Time) RolloutStatus {
	want := strconv.Itoa(release)
	st := RolloutStatus{Phase: RolloutProgressing}
	if r := svc.Spec.Mode.Replicated; r != nil && r.Replicas != nil {
		st.Desired = *r.Replicas
	}

	var failed, unplaced *swarm.Task
	for i := range tasks {
		t := &tasks[i]
		if taskRelease(t) != want {
			continue
		}
		if t.DesiredState == swarm.TaskStateRunning && t.Status.State == swarm.TaskStatePending && t.Status.Err != "" {
			unplaced = t // the scheduler cannot place it: Swarm says why
		}
		if t.DesiredState == swarm.TaskStateRunning && t.Status.State == swarm.TaskStateRunning {
			st.Running++
		}
		if t.Status.State == swarm.TaskStateFailed || t.Status.State == swarm.TaskStateRejected {
			if failed == nil || t.Status.Timestamp.After(failed.Status.Timestamp) {
				failed = t
			}
		}
	}
	if failed != nil {
		st.TaskError = taskError(failed)
	} else if unplaced != nil {
		st.TaskError = "a task cannot be placed: " + unplaced.Status.Err
	}

	us := svc.UpdateStatus
	if us != nil && us.StartedAt != nil && us.StartedAt.Before(startedAt) {
		us = nil // an earlier rollout's status
	}
	state := swarm.UpdateState("")
	if us != nil {
		state = us.State
	}

	switch state {
	case swarm.UpdateStateRollbackCompleted:
		st.Phase = RolloutRolledBack
		st.Message = withCause("Swarm rolled back to the previous release", st.TaskError, us.Message)
		return st
	case swarm.UpdateStateRollbackStarted, swarm.UpdateStateRollbackPaused, swarm.UpdateStatePaused:
		st.Phase = RolloutFailed
		st.Message = withCause(fmt.Sprintf("Update %s", humanState(state)), st.TaskError, us.Message)
		return st
	}

	specIsRelease := taskSpecRelease(svc.Spec.TaskTemplate) == want
	if (state == "" || state == swarm.UpdateStateCompleted) && specIsRelease && st.Running >= st.Desired {
		st.Phase = RolloutDeployed
		st.Message = fmt.Sprintf("%d/%d tasks running release %s", st.Running, st.Desired, want)
		return st
	}

	if !deadline.IsZero() && !now.Before(deadline) {
		st.Phase = RolloutFailed
		st.Message = withCause(fmt.Sprintf("rollout deadline exceeded with %d/%d tasks running", st.Running, st.Desired), st.TaskError, "")
		return st
	}

	if !specIsRelease {
		st.Message = fmt.Sprintf("Waiting for the service to carry release %s", want)
	} else {
		st.Message = fmt.Sprintf("%d/%d tasks running release %s", st.Running, st.Desired, want)
	}
	return st
}

// taskRelease is the paas.release container label a task was created with.
func taskRelease(t *swarm.Task) string { return taskSpecRelease(t.Spec) }

func taskSpecRelease(ts swarm.TaskSpec) string {
	if ts.ContainerSpec == nil {
		return ""
	}
	return ts.ContainerSpec.Labels[LabelRelease]
}

// taskError picks the most specific explanation Swarm has for a failed task,
// with the task's command words redacted (see redactCommands).
func taskError(t *swarm.Task) string {
	switch {
	case t.Status.Err != "":
		return redactCommands(t.Status.Err, t.Spec.ContainerSpec)
	case t.Status.ContainerStatus != nil && t.Status.ContainerStatus.ExitCode != 0:
		return fmt.Sprintf("task exited with code %d", t.Status.ContainerStatus.ExitCode)
	default:
		return redactCommands(t.Status.Message, t.Spec.ContainerSpec)
	}
}

// redactCommands replaces in msg every word of the container's entrypoint,
// arguments and health-check command: the engine quotes them in its errors
// (exec: "...": executable file not found), and the message becomes an
// event, a condition and a log line.
func redactCommands(msg string, cs *swarm.ContainerSpec) string {
	if cs == nil {
		return msg
	}
	words := slices.Concat(cs.Command, cs.Args)
	if cs.Healthcheck != nil {
		for _, w := range cs.Healthcheck.Test {
			if w != "CMD" && w != "CMD-SHELL" && w != "NONE" {
				words = append(words, w)
			}
		}
	}
	// Longest first, so a word containing another is replaced whole.
	slices.SortFunc(words, func(a, b string) int { return len(b) - len(a) })
	for _, w := range words {
		if len(w) >= 3 {
			msg = strings.ReplaceAll(msg, w, Redacted)
		}
	}
	return msg
}

func humanState(s swarm.UpdateState) string {
	switch s {
	case swarm.UpdateStateRollbackStarted:
		return "failed, rolling back"
	case swarm.UpdateStateRollbackPaused:
		return "failed and its rollback paused"
	default:
		return "paused after a failure"
	}
}

// withCause appends the task error, or failing that Swarm's own message, to msg.
func withCause(msg, taskErr, swarmMsg string) string {
	switch {
	case taskErr != "":
		return msg + ": " + taskErr
	case swarmMsg != "":
		return msg + ": " + swarmMsg
	default:
		return msg
	}
}
