package servicespec

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/swarm"
)

// TestCommandsNeverPrinted: whatever prints an Owned or a FieldDiff (log
// lines, event messages) shows neither the arguments, the entrypoint nor the
// health-check command, which often carry credentials.
func TestCommandsNeverPrinted(t *testing.T) {
	t.Parallel()
	const secretArg, secretEntry, secretHealth = "--password=hunter2", "/bin/s3cr3t-entry", "curl -u admin:pa55w0rd"
	withCmds := Owned{
		Image: "app:v1", Entrypoint: []string{secretEntry}, Args: []string{"serve", secretArg},
		Env:         []string{"TOKEN=t0k3n"},
		Healthcheck: &OwnedHealthcheck{Test: []string{"CMD-SHELL", secretHealth}, Retries: 3},
	}
	other := Owned{
		Image: "app:v2", Entrypoint: []string{"/bin/other"}, Args: []string{"serve", "--password=other"},
		Env:         []string{"TOKEN=other"},
		Healthcheck: &OwnedHealthcheck{Test: []string{"CMD-SHELL", "curl -u admin:other"}, Retries: 3},
	}
	empty := Owned{Image: "app:v1"}
	var printed []string
	for _, o := range []Owned{withCmds, other} {
		printed = append(printed, o.String(), o.GoString(), fmt.Sprintf("%v %+v %#v %s", o, o, o, o))
	}
	for _, pair := range [][2]Owned{{withCmds, other}, {other, withCmds}, {withCmds, empty}, {empty, withCmds}} {
		for _, f := range Diff(pair[0], pair[1]) {
			printed = append(printed, f.String(), fmt.Sprintf("%v %+v", f, f))
		}
	}
	for _, p := range printed {
		for _, s := range []string{secretArg, secretEntry, secretHealth, "hunter2", "pa55w0rd", "t0k3n", "--password=other", "admin:other", "/bin/other"} {
			if strings.Contains(p, s) {
				t.Errorf("printed %q contains %q", p, s)
			}
		}
	}
}

// TestTaskErrorsHideCommands: the engine quotes a task's command in its
// errors; the rollout message (an event, a condition, a log line) does not.
func TestTaskErrorsHideCommands(t *testing.T) {
	t.Parallel()
	now := time.Now()
	for _, tc := range []struct {
		name string
		cs   swarm.ContainerSpec
		err  string
		leak []string
	}{
		{"args", swarm.ContainerSpec{Args: []string{"--password=hunter2", "serve"}},
			`starting container failed: exec: "--password=hunter2": executable file not found in $PATH`, []string{"hunter2"}},
		{"entrypoint", swarm.ContainerSpec{Command: []string{"/bin/tok-s3cr3t"}},
			`exec: "/bin/tok-s3cr3t": stat /bin/tok-s3cr3t: no such file or directory`, []string{"s3cr3t"}},
		{"healthcheck", swarm.ContainerSpec{Healthcheck: &container.HealthConfig{Test: []string{"CMD-SHELL", "curl -u admin:pa55w0rd localhost"}}},
			`health check "curl -u admin:pa55w0rd localhost" failed`, []string{"pa55w0rd"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cs := tc.cs
			cs.Labels = map[string]string{LabelRelease: "2"}
			replicas := uint64(1)
			svc := swarm.Service{Spec: swarm.ServiceSpec{Mode: swarm.ServiceMode{Replicated: &swarm.ReplicatedService{Replicas: &replicas}},
				TaskTemplate: swarm.TaskSpec{ContainerSpec: &cs}}}
			task := swarm.Task{Spec: swarm.TaskSpec{ContainerSpec: &cs}, DesiredState: swarm.TaskStateShutdown,
				Status: swarm.TaskStatus{State: swarm.TaskStateFailed, Err: tc.err, Timestamp: now}}
			st := EvaluateRollout(svc, []swarm.Task{task}, 2, now.Add(-time.Minute), now.Add(-time.Second), now)
			if st.Phase != RolloutFailed || !strings.Contains(st.Message, Redacted) {
				t.Fatalf("rollout %s %q, want failed with the command redacted", st.Phase, st.Message)
			}
			for _, l := range tc.leak {
				if strings.Contains(st.Message, l) || strings.Contains(st.TaskError, l) {
					t.Errorf("message %q / task error %q contains %q", st.Message, st.TaskError, l)
				}
			}
		})
	}
}
