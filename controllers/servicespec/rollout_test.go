package servicespec

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/swarm"
)

var t0 = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)

func rolloutService(release int, replicas uint64, us *swarm.UpdateStatus) swarm.Service {
	return swarm.Service{
		Spec: swarm.ServiceSpec{
			Mode: swarm.ServiceMode{Replicated: &swarm.ReplicatedService{Replicas: &replicas}},
			TaskTemplate: swarm.TaskSpec{ContainerSpec: &swarm.ContainerSpec{
				Labels: map[string]string{LabelRelease: strconv.Itoa(release)},
			}},
		},
		UpdateStatus: us,
	}
}

func task(release int, desired, state swarm.TaskState, at time.Duration) swarm.Task {
	return swarm.Task{
		Spec:         swarm.TaskSpec{ContainerSpec: &swarm.ContainerSpec{Labels: map[string]string{LabelRelease: strconv.Itoa(release)}}},
		DesiredState: desired,
		Status:       swarm.TaskStatus{State: state, Timestamp: t0.Add(at)},
	}
}

func failedTask(release int, at time.Duration, err string, exit int, msg string) swarm.Task {
	tk := task(release, swarm.TaskStateShutdown, swarm.TaskStateFailed, at)
	tk.Status.Err, tk.Status.Message = err, msg
	if exit != 0 {
		tk.Status.ContainerStatus = &swarm.ContainerStatus{ExitCode: exit}
	}
	return tk
}

func updateStatus(state swarm.UpdateState, startedAt time.Time, msg string) *swarm.UpdateStatus {
	return &swarm.UpdateStatus{State: state, StartedAt: &startedAt, Message: msg}
}

func TestEvaluateRollout(t *testing.T) {
	t.Parallel()
	const run, shut = swarm.TaskStateRunning, swarm.TaskStateShutdown
	started := t0
	deadline := t0.Add(5 * time.Minute)
	during := t0.Add(time.Minute)

	tests := []struct {
		name        string
		svc         swarm.Service
		tasks       []swarm.Task
		now         time.Time
		wantPhase   RolloutPhase
		wantRunning uint64
		wantMsg     string // substring
		wantTaskErr string
	}{
		{
			name:      "updating, 1 of 2 running",
			svc:       rolloutService(2, 2, updateStatus(swarm.UpdateStateUpdating, t0.Add(time.Second), "update in progress")),
			tasks:     []swarm.Task{task(2, run, run, 10*time.Second), task(2, run, swarm.TaskStateStarting, 20*time.Second)},
			now:       during,
			wantPhase: RolloutProgressing, wantRunning: 1, wantMsg: "1/2 tasks running release 2",
		},
		{
			name:      "updating with all running is still monitored",
			svc:       rolloutService(2, 2, updateStatus(swarm.UpdateStateUpdating, t0.Add(time.Second), "")),
			tasks:     []swarm.Task{task(2, run, run, 10*time.Second), task(2, run, run, 20*time.Second)},
			now:       during,
			wantPhase: RolloutProgressing, wantRunning: 2,
		},
		{
			name:      "completed with all running",
			svc:       rolloutService(2, 2, updateStatus(swarm.UpdateStateCompleted, t0.Add(time.Second), "update completed")),
			tasks:     []swarm.Task{task(2, run, run, 10*time.Second), task(2, run, run, 20*time.Second), task(1, shut, shut, 30*time.Second)},
			now:       during,
			wantPhase: RolloutDeployed, wantRunning: 2, wantMsg: "2/2 tasks running release 2",
		},
		{
			name:      "fresh create: nil update status with all running",
			svc:       rolloutService(2, 1, nil),
			tasks:     []swarm.Task{task(2, run, run, time.Second)},
			now:       during,
			wantPhase: RolloutDeployed, wantRunning: 1,
		},
		{
			name:      "stopped app: zero desired is deployed",
			svc:       rolloutService(2, 0, nil),
			now:       during,
			wantPhase: RolloutDeployed,
		},
		{
			name: "old-release tasks do not count",
			svc:  rolloutService(2, 2, nil),
			tasks: []swarm.Task{
				task(1, run, run, time.Second), task(1, run, run, 2*time.Second),
				task(2, run, swarm.TaskStatePreparing, 3*time.Second),
			},
			now:       during,
			wantPhase: RolloutProgressing, wantRunning: 0, wantMsg: "0/2",
		},
		{
			name:      "a running task being shut down does not count",
			svc:       rolloutService(2, 1, nil),
			tasks:     []swarm.Task{task(2, shut, run, time.Second)},
			now:       during,
			wantPhase: RolloutProgressing, wantRunning: 0,
		},
		{
			name:      "service spec not yet at the release",
			svc:       rolloutService(1, 1, nil),
			tasks:     []swarm.Task{task(1, run, run, time.Second)},
			now:       during,
			wantPhase: RolloutProgressing, wantMsg: "Waiting for the service to carry release 2",
		},
		{
			name: "rollback completed reports the latest failed task",
			svc:  rolloutService(1, 2, updateStatus(swarm.UpdateStateRollbackCompleted, t0.Add(40*time.Second), "rollback completed")),
			tasks: []swarm.Task{
				task(1, run, run, time.Second), task(1, run, run, 2*time.Second),
				failedTask(2, 10*time.Second, "older failure", 0, ""),
				failedTask(2, 30*time.Second, "task: non-zero exit (1)", 1, "started"),
				failedTask(1, 35*time.Second, "release 1 failure is not ours", 0, ""),
			},
			now:         during,
			wantPhase:   RolloutRolledBack,
			wantMsg:     "rolled back to the previous release: task: non-zero exit (1)",
			wantTaskErr: "task: non-zero exit (1)",
		},
		{
			name:        "rollback started, exit code only",
			svc:         rolloutService(2, 1, updateStatus(swarm.UpdateStateRollbackStarted, t0.Add(20*time.Second), "update rolled back due to failure")),
			tasks:       []swarm.Task{failedTask(2, 10*time.Second, "", 3, "started")},
			now:         during,
			wantPhase:   RolloutFailed,
			wantMsg:     "rolling back: task exited with code 3",
			wantTaskErr: "task exited with code 3",
		},
		{
			name: "rejected task message",
			svc:  rolloutService(2, 1, updateStatus(swarm.UpdateStateRollbackPaused, t0.Add(20*time.Second), "")),
			tasks: func() []swarm.Task {
				tk := task(2, shut, swarm.TaskStateRejected, 5*time.Second)
				tk.Status.Message = "No such image"
				return []swarm.Task{tk}
			}(),
			now:         during,
			wantPhase:   RolloutFailed,
			wantTaskErr: "No such image",
		},
		{
			name:      "paused without task error uses Swarm's message",
			svc:       rolloutService(2, 1, updateStatus(swarm.UpdateStatePaused, t0.Add(time.Second), "update paused due to failure or early termination of task x")),
			now:       during,
			wantPhase: RolloutFailed,
			wantMsg:   "paused after a failure: update paused due to failure",
		},
		{
			name:      "deadline exceeded",
			svc:       rolloutService(2, 2, updateStatus(swarm.UpdateStateUpdating, t0.Add(time.Second), "")),
			tasks:     []swarm.Task{task(2, run, run, 10*time.Second), failedTask(2, 20*time.Second, "task: non-zero exit (137)", 137, "")},
			now:       deadline,
			wantPhase: RolloutFailed, wantRunning: 1,
			wantMsg:     "rollout deadline exceeded with 1/2 tasks running: task: non-zero exit (137)",
			wantTaskErr: "task: non-zero exit (137)",
		},
		{
			// A rollback on a machine whose CPU reservations were exhausted:
			// the deadline's message says why no task ran.
			name: "deadline exceeded with tasks the scheduler cannot place",
			svc:  rolloutService(2, 3, updateStatus(swarm.UpdateStateUpdating, t0.Add(time.Second), "")),
			tasks: []swarm.Task{
				pendingTask(2, "no suitable node (insufficient resources on 1 node)"),
				pendingTask(2, "no suitable node (insufficient resources on 1 node)"),
			},
			now:       deadline,
			wantPhase: RolloutFailed, wantRunning: 0,
			wantMsg:     "rollout deadline exceeded with 0/3 tasks running: a task cannot be placed: no suitable node (insufficient resources on 1 node)",
			wantTaskErr: "a task cannot be placed: no suitable node (insufficient resources on 1 node)",
		},
		{
			name:      "deployed wins over a passed deadline",
			svc:       rolloutService(2, 1, updateStatus(swarm.UpdateStateCompleted, t0.Add(time.Second), "")),
			tasks:     []swarm.Task{task(2, run, run, 10*time.Second)},
			now:       deadline.Add(time.Hour),
			wantPhase: RolloutDeployed, wantRunning: 1,
		},
		{
			name:      "no deadline",
			svc:       rolloutService(2, 1, updateStatus(swarm.UpdateStateUpdating, t0.Add(time.Second), "")),
			now:       t0.Add(24 * time.Hour),
			wantPhase: RolloutProgressing,
		},
		{
			name:      "stale rollback of an earlier rollout is ignored",
			svc:       rolloutService(2, 1, updateStatus(swarm.UpdateStateRollbackCompleted, t0.Add(-time.Hour), "rollback completed")),
			tasks:     []swarm.Task{task(2, run, run, 10*time.Second)},
			now:       during,
			wantPhase: RolloutDeployed, wantRunning: 1,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dl := deadline
			if tc.name == "no deadline" {
				dl = time.Time{}
			}
			st := EvaluateRollout(tc.svc, tc.tasks, 2, started, dl, tc.now)
			if st.Phase != tc.wantPhase || st.Running != tc.wantRunning || st.TaskError != tc.wantTaskErr {
				t.Errorf("EvaluateRollout = %+v\nwant phase %s running %d task error %q", st, tc.wantPhase, tc.wantRunning, tc.wantTaskErr)
			}
			if !strings.Contains(st.Message, tc.wantMsg) {
				t.Errorf("Message = %q, want it to contain %q", st.Message, tc.wantMsg)
			}
			if st.Desired != *tc.svc.Spec.Mode.Replicated.Replicas {
				t.Errorf("Desired = %d", st.Desired)
			}
		})
	}
}

func pendingTask(release int, err string) swarm.Task {
	tk := task(release, swarm.TaskStateRunning, swarm.TaskStatePending, time.Second)
	tk.Status.Err = err
	return tk
}
