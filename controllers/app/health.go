package app

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/docker/docker/api/types"
	"github.com/docker/docker/api/types/swarm"
	"github.com/rs/zerolog"

	"github.com/skypanel/paas/controllers/observed"
	"github.com/skypanel/paas/controllers/servicespec"
)

// Reasons of the Degraded (and Progressing) conditions read from tasks.
const (
	ReasonUnschedulable = "Unschedulable" // a task no node can take (Swarm's words)
	ReasonUnhealthy     = "Unhealthy"     // tasks of the current release fail their health check
	ReasonCrashLoop     = "CrashLoop"     // tasks of the current release keep exiting
)

// taskHealth is what the app's tasks say beyond the service's counts.
type taskHealth struct {
	// updated counts the tasks running the current release.
	updated uint64
	// problem is why replicas are missing, nil when none is known.
	problem *taskProblem
	// recent are the containers of the release's newest tasks that do not
	// run (starting, or ended), newest first, while replicas are missing:
	// Swarm ends a task whose container turned unhealthy like any other,
	// so only the container's health log tells.
	recent []string
}

type taskProblem struct {
	reason  string
	message string
	// container is the newest unhealthy task's container, whose last
	// health output completes the message (when it runs on this node).
	container string
}

// crashLoopFailures is how many failed tasks of one release make a crash loop.
const crashLoopFailures = 2

// assessTasks reads an app's tasks: how many run the release, and why
// replicas are missing (desired is the replica count wanted). A task
// Swarm cannot place is reported at once, in Swarm's words; failures of
// the release count only while replicas are missing, so an old failure in
// the task history of a healthy app says nothing.
func assessTasks(tasks []swarm.Task, release int, desired uint64) taskHealth {
	want := strconv.Itoa(release)
	var h taskHealth
	var unschedulable, unhealthy, crashed *swarm.Task
	crashes, unhealthies := 0, 0
	var notRunning []*swarm.Task
	newer := func(a, b *swarm.Task) bool { return b == nil || a.Status.Timestamp.After(b.Status.Timestamp) }
	for i := range tasks {
		t := &tasks[i]
		if t.DesiredState == swarm.TaskStateRunning && t.Status.State == swarm.TaskStatePending && t.Status.Err != "" {
			if newer(t, unschedulable) {
				unschedulable = t
			}
		}
		if taskRelease(t) != want {
			continue
		}
		if t.DesiredState == swarm.TaskStateRunning && t.Status.State == swarm.TaskStateRunning {
			h.updated++
		} else if cs := t.Status.ContainerStatus; cs != nil && cs.ContainerID != "" {
			notRunning = append(notRunning, t)
		}
		if t.Status.State != swarm.TaskStateFailed {
			continue
		}
		if isUnhealthy(t) {
			unhealthies++
			if newer(t, unhealthy) {
				unhealthy = t
			}
		} else if exitCode(t) != 0 {
			crashes++
			if newer(t, crashed) {
				crashed = t
			}
		}
	}
	if h.updated < desired {
		slices.SortFunc(notRunning, func(a, b *swarm.Task) int { return b.Status.Timestamp.Compare(a.Status.Timestamp) })
		for _, t := range notRunning[:min(len(notRunning), 3)] {
			h.recent = append(h.recent, t.Status.ContainerStatus.ContainerID)
		}
	}
	switch {
	case unschedulable != nil:
		h.problem = &taskProblem{reason: ReasonUnschedulable, message: "a task cannot be placed: " + unschedulable.Status.Err}
	case h.updated >= desired:
	case unhealthy != nil:
		p := &taskProblem{reason: ReasonUnhealthy,
			message: fmt.Sprintf("tasks of release %s fail their health check (%d failed): %s", want, unhealthies, taskErr(unhealthy))}
		if cs := unhealthy.Status.ContainerStatus; cs != nil {
			p.container = cs.ContainerID
		}
		h.problem = p
	case crashes >= crashLoopFailures:
		h.problem = &taskProblem{reason: ReasonCrashLoop,
			message: fmt.Sprintf("tasks of release %s keep exiting: exit code %d (%d failed): %s", want, exitCode(crashed), crashes, taskErr(crashed))}
	}
	return h
}

func taskRelease(t *swarm.Task) string {
	if cs := t.Spec.ContainerSpec; cs != nil {
		return cs.Labels[servicespec.LabelRelease]
	}
	return ""
}

func isUnhealthy(t *swarm.Task) bool {
	return strings.Contains(t.Status.Err, "unhealthy") || strings.Contains(t.Status.Message, "unhealthy")
}

func exitCode(t *swarm.Task) int {
	if cs := t.Status.ContainerStatus; cs != nil {
		return cs.ExitCode
	}
	return 0
}

func taskErr(t *swarm.Task) string {
	if t.Status.Err != "" {
		return t.Status.Err
	}
	return t.Status.Message
}

// releaseSettled tells from the service alone that every desired task
// runs the release and nothing is moving, so the tasks need no listing.
func releaseSettled(svc *swarm.Service, release int, desired uint64) bool {
	cs := svc.Spec.TaskTemplate.ContainerSpec
	if cs == nil || cs.Labels[servicespec.LabelRelease] != strconv.Itoa(release) || updating(svc) {
		return false
	}
	r := svc.Spec.Mode.Replicated
	return r != nil && r.Replicas != nil && *r.Replicas == desired && running(svc) == desired &&
		svc.ServiceStatus != nil && svc.ServiceStatus.DesiredTasks == desired
}

// taskHealthOf assesses the app's tasks, listing them only when the
// service alone cannot tell (a settled app costs no call).
func (r *Reconciler) taskHealthOf(ctx context.Context, svc *swarm.Service, dec releaseDecision, desired uint64) *taskHealth {
	if svc == nil || dec.Target == nil {
		return nil
	}
	release := int(dec.Target.Version)
	if releaseSettled(svc, release, desired) {
		return &taskHealth{updated: running(svc)}
	}
	tasks, err := r.Docker.TaskList(ctx, types.TaskListOptions{Filters: observed.ServiceFilter(svc.ID)})
	if err != nil {
		zerolog.Ctx(ctx).Warn().Err(err).Msg("list tasks for status")
		return nil
	}
	h := assessTasks(tasks, release, desired)
	if p := h.problem; p != nil && p.container != "" {
		if out, _ := r.healthOutput(ctx, p.container); out != "" {
			p.message += "; last health check output: " + out
		}
	}
	if h.problem == nil || h.problem.reason == ReasonCrashLoop {
		for _, c := range h.recent {
			if out, unhealthy := r.healthOutput(ctx, c); unhealthy {
				h.problem = &taskProblem{reason: ReasonUnhealthy,
					message: fmt.Sprintf("tasks of release %d fail their health check; last health check output: %s", release, out)}
				break
			}
		}
	}
	return &h
}

// healthOutput is the last health check output of a container on this
// node, and whether the container was unhealthy ("", false when it runs
// elsewhere, is gone or has no health check).
func (r *Reconciler) healthOutput(ctx context.Context, id string) (string, bool) {
	c, err := r.Docker.ContainerInspect(ctx, id)
	if err != nil || c.ContainerJSONBase == nil || c.State == nil || c.State.Health == nil || len(c.State.Health.Log) == 0 {
		return "", false
	}
	h := c.State.Health
	out := strings.Join(strings.Fields(h.Log[len(h.Log)-1].Output), " ")
	if len(out) > 300 {
		out = out[:300] + "…"
	}
	return out, h.Status == "unhealthy"
}
