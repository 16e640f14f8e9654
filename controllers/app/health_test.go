package app

import (
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/swarm"

	"github.com/skypanel/paas/controllers/servicespec"
)

func tk(release string, desired, state swarm.TaskState, at int, err string, exit int) swarm.Task {
	t := swarm.Task{
		Spec:         swarm.TaskSpec{ContainerSpec: &swarm.ContainerSpec{Labels: map[string]string{servicespec.LabelRelease: release}}},
		DesiredState: desired,
		Status:       swarm.TaskStatus{State: state, Err: err, Timestamp: time.Unix(int64(at), 0)},
	}
	if exit != 0 {
		t.Status.ContainerStatus = &swarm.ContainerStatus{ExitCode: exit, ContainerID: "c" + release}
	}
	return t
}

func TestAssessTasks(t *testing.T) {
	const run, shut, failed, pending = swarm.TaskStateRunning, swarm.TaskStateShutdown, swarm.TaskStateFailed, swarm.TaskStatePending
	for _, tc := range []struct {
		name        string
		release     int
		tasks       []swarm.Task
		desired     uint64
		updated     uint64
		reason, msg string
	}{
		{name: "all running the release", release: 3, desired: 2, updated: 2,
			tasks: []swarm.Task{tk("3", run, run, 1, "", 0), tk("3", run, run, 2, "", 0), tk("2", shut, shut, 0, "", 0)}},
		{name: "old release still running during a rollout", release: 3, desired: 2, updated: 1,
			tasks: []swarm.Task{tk("3", run, run, 1, "", 0), tk("2", run, run, 0, "", 0)}},
		{name: "unschedulable, in Swarm's words", release: 2, desired: 3, updated: 0, reason: ReasonUnschedulable,
			msg:   "no suitable node (insufficient resources on 1 node)",
			tasks: []swarm.Task{tk("2", run, pending, 1, "no suitable node (insufficient resources on 1 node)", 0), tk("1", run, run, 0, "", 0)}},
		{name: "crash loop with the exit code", release: 1, desired: 1, reason: ReasonCrashLoop, msg: "exit code 3 (2 failed)",
			tasks: []swarm.Task{tk("1", shut, failed, 1, "task: non-zero exit (3)", 3), tk("1", shut, failed, 2, "task: non-zero exit (3)", 3), tk("1", run, swarm.TaskStateStarting, 3, "", 0)}},
		{name: "one crash is not a loop", release: 1, desired: 1,
			tasks: []swarm.Task{tk("1", shut, failed, 1, "task: non-zero exit (3)", 3), tk("1", run, swarm.TaskStateStarting, 3, "", 0)}},
		{name: "unhealthy", release: 1, desired: 1, reason: ReasonUnhealthy, msg: "fail their health check (1 failed): unhealthy container",
			tasks: []swarm.Task{tk("1", shut, failed, 1, "unhealthy container", 137), tk("1", run, swarm.TaskStateStarting, 3, "", 0)}},
		{name: "old failures of a healthy app say nothing", release: 1, desired: 1, updated: 1,
			tasks: []swarm.Task{tk("1", shut, failed, 1, "task: non-zero exit (1)", 1), tk("1", shut, failed, 2, "task: non-zero exit (1)", 1), tk("1", run, run, 3, "", 0)}},
		{name: "failures of another release are not this one's", release: 1, desired: 1, updated: 1,
			tasks: []swarm.Task{tk("2", shut, failed, 1, "task: non-zero exit (1)", 1), tk("2", shut, failed, 2, "task: non-zero exit (1)", 1), tk("1", run, run, 3, "", 0)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := assessTasks(tc.tasks, tc.release, tc.desired)
			if h.updated != tc.updated {
				t.Errorf("updated %d, want %d", h.updated, tc.updated)
			}
			switch {
			case tc.reason == "" && h.problem != nil:
				t.Errorf("problem %+v, want none", *h.problem)
			case tc.reason != "" && h.problem == nil:
				t.Errorf("no problem, want %s", tc.reason)
			case tc.reason != "" && (h.problem.reason != tc.reason || !strings.Contains(h.problem.message, tc.msg)):
				t.Errorf("problem %+v, want %s containing %q", *h.problem, tc.reason, tc.msg)
			}
		})
	}
}
