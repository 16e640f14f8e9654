package app

import (
	"reflect"
	"testing"
	"time"

	"github.com/docker/docker/api/types/swarm"

	"github.com/skypanel/paas/store"
)

func TestRenderHealthCheck(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		in   store.HealthCheck
		want []string
	}{
		{"command", store.HealthCheck{Command: []string{"/testapp", "-healthcheck", "http://127.0.0.1:8080/health"}},
			[]string{"/testapp", "-healthcheck", "http://127.0.0.1:8080/health"}},
		{"path", store.HealthCheck{Path: "/health"},
			[]string{"/bin/sh", "-c", "wget -q -O /dev/null 'http://127.0.0.1:8080/health' || exit 1"}},
		{"path with a quote stays one word", store.HealthCheck{Path: "/x';rm -rf /;'"},
			[]string{"/bin/sh", "-c", `wget -q -O /dev/null 'http://127.0.0.1:8080/x'\'';rm -rf /;'\''' || exit 1`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := renderHealthCheck(tc.in, 8080)
			if !reflect.DeepEqual(got.Command, tc.want) {
				t.Fatalf("command = %q, want %q", got.Command, tc.want)
			}
			if got.Interval != 10*time.Second || got.Timeout != 5*time.Second || got.Retries != 3 {
				t.Fatalf("defaults = %+v", got)
			}
		})
	}
}

// TestSettled checks when an app stops being polled: only once the service
// has the desired replicas, all running, with no update or rollout going on.
func TestSettled(t *testing.T) {
	t.Parallel()
	service := func(replicas, running uint64, update swarm.UpdateState) *swarm.Service {
		svc := &swarm.Service{ServiceStatus: &swarm.ServiceStatus{RunningTasks: running}}
		svc.Spec.Mode.Replicated = &swarm.ReplicatedService{Replicas: &replicas}
		if update != "" {
			svc.UpdateStatus = &swarm.UpdateStatus{State: update}
		}
		return svc
	}
	deploying := releaseDecision{Latest: &store.Deployment{Status: "deploying"}}
	for _, tc := range []struct {
		name string
		in   statusInput
		want bool
	}{
		{"converged", statusInput{service: service(2, 2, ""), desired: 2}, true},
		{"tasks still starting", statusInput{service: service(2, 1, ""), desired: 2}, false},
		{"the scale loop has not acted yet", statusInput{service: service(3, 3, ""), desired: 2}, false},
		{"stopped and drained", statusInput{service: service(0, 0, ""), desired: 0}, true},
		{"a rolling update", statusInput{service: service(2, 2, swarm.UpdateStateUpdating), desired: 2}, false},
		{"an update completed", statusInput{service: service(2, 2, swarm.UpdateStateCompleted), desired: 2}, true},
		{"a release deploying", statusInput{service: service(2, 2, ""), desired: 2, release: deploying}, false},
		{"no service yet", statusInput{desired: 2}, true},
		{"blocked", statusInput{blocked: &conditionError{reason: "ImageNotFound"}, desired: 2}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.in.settled(); got != tc.want {
				t.Fatalf("settled() = %v, want %v", got, tc.want)
			}
		})
	}
}
