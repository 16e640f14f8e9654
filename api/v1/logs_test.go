package v1_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/swarm"
	"github.com/docker/docker/client"

	v1 "github.com/skypanel/paas/api/v1"
	"github.com/skypanel/paas/store"
	"github.com/skypanel/paas/store/storetest"
)

// dockerClient connects to the machine's engine, failing (never skipping)
// when none answers.
func dockerClient(t *testing.T) *client.Client {
	t.Helper()
	c, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		t.Fatalf("docker client: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	info, err := c.Info(ctx)
	if err != nil || info.Swarm.LocalNodeState != swarm.LocalNodeStateActive {
		t.Fatalf("Docker with an active Swarm is needed (run hack/docker-up.sh): %v %s", err, info.Swarm.LocalNodeState)
	}
	return c
}

// TestAppLogs reads a real Swarm service's logs through the API: the test
// plays the reconciler, creating the service and recording its id.
func TestAppLogs(t *testing.T) {
	t.Parallel()
	docker := dockerClient(t)
	f := setup(t, func(d *v1.Deps) { d.Docker = docker })
	ctx := context.Background()
	a := f.createApp(f.alice.token, "web", map[string]any{"image": "paas-testapp:v1"})

	// Before the service exists there is nothing to read.
	f.do(f.alice.token, "GET", "/api/paas/apps/web/logs", nil).problem(409, "conflict")

	replicas := uint64(1)
	instance := storetest.InstanceID(t)
	spec := swarm.ServiceSpec{
		Annotations: swarm.Annotations{Name: instance + "-logs", Labels: map[string]string{"paas.managed": "true", "paas.instance": instance, "paas.app.id": a.Id.String()}},
		TaskTemplate: swarm.TaskSpec{ContainerSpec: &swarm.ContainerSpec{Image: "paas-testapp:v1", Env: []string{"PORT=8080"}},
			RestartPolicy: &swarm.RestartPolicy{Condition: swarm.RestartPolicyConditionNone}},
		Mode: swarm.ServiceMode{Replicated: &swarm.ReplicatedService{Replicas: &replicas}},
	}
	created, err := docker.ServiceCreate(ctx, spec, swarm.ServiceCreateOptions{})
	if err != nil {
		t.Fatalf("create service: %v", err)
	}
	t.Cleanup(func() { _ = docker.ServiceRemove(context.Background(), created.ID) })
	sid := created.ID
	if err := f.s.UpdateAppStatus(ctx, store.UpdateAppStatusParams{ID: a.Id, Phase: "Running", Conditions: json.RawMessage(`[]`), ServiceID: &sid}); err != nil {
		t.Fatal(err)
	}

	var body string
	deadline := time.Now().Add(60 * time.Second)
	for !strings.Contains(body, "testapp v1 listening") {
		if time.Now().After(deadline) {
			t.Fatalf("no startup line in the logs: %q", body)
		}
		time.Sleep(300 * time.Millisecond)
		r := f.do(f.alice.token, "GET", "/api/paas/apps/web/logs?tail=50", nil).want(200)
		if !strings.HasPrefix(r.Header.Get("Content-Type"), "text/plain") {
			t.Fatalf("content type %s", r.Header.Get("Content-Type"))
		}
		body = string(r.Body)
	}
	// Timestamps and since work.
	r := f.do(f.alice.token, "GET", "/api/paas/apps/web/logs?timestamps=true&since=10m", nil).want(200)
	if !strings.Contains(string(r.Body), "testapp v1 listening") || !strings.HasPrefix(string(r.Body), time.Now().UTC().Format("2006-")) {
		t.Fatalf("timestamped logs %q", r.Body)
	}
	f.do(f.alice.token, "GET", "/api/paas/apps/web/logs?since=2999-01-01T00:00:00Z", nil).want(200)

	// Following streams lines as SSE.
	st := f.stream(f.alice.token, "/api/paas/apps/web/logs?follow=true&tail=10")
	if ev := st.until(20*time.Second, func(ev sseEvent) bool { return strings.Contains(ev.Data, "listening") }); ev.Event != "stdout" {
		t.Fatalf("event %+v", ev)
	}

	// Bad parameters.
	f.do(f.alice.token, "GET", "/api/paas/apps/web/logs?tail=-1", nil).problem(400, "malformed-request")
	f.do(f.alice.token, "GET", "/api/paas/apps/web/logs?tail=100000", nil).problem(400, "malformed-request")
	f.do(f.alice.token, "GET", "/api/paas/apps/web/logs?since=yesterday", nil).problem(400, "malformed-request")
	f.do(f.alice.token, "GET", "/api/paas/apps/web/logs?follow=maybe", nil).problem(400, "malformed-request")
}

func TestAppLogsWithoutDocker(t *testing.T) {
	t.Parallel()
	f := setup(t)
	f.createApp(f.alice.token, "web", map[string]any{"image": "nginx"})
	f.do(f.alice.token, "GET", "/api/paas/apps/web/logs", nil).problem(502, "docker-unavailable")
}
