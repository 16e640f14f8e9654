package swarm_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types"
	"github.com/docker/docker/api/types/swarm"

	paasswarm "github.com/skypanel/paas/controllers/swarm"
	"github.com/skypanel/paas/controllers/swarm/swarmtest"
	"github.com/skypanel/paas/store/storetest"
)

func TestPinImage(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		ref, id string
		digests []string
		want    string
	}{
		{"paas-testapp:v1", "sha256:abc", nil, "sha256:abc"},
		{"nginx:1.25", "sha256:abc", []string{"nginx@sha256:def"}, "nginx@sha256:def"},
		{"registry:5000/team/app:v2", "sha256:abc", []string{"other@sha256:1", "registry:5000/team/app@sha256:2"}, "registry:5000/team/app@sha256:2"},
		{"app@sha256:2", "sha256:abc", []string{"app@sha256:2"}, "app@sha256:2"},
	} {
		if got := paasswarm.PinImage(tc.ref, tc.id, tc.digests); got != tc.want {
			t.Errorf("PinImage(%q) = %q, want %q", tc.ref, got, tc.want)
		}
	}
}

// TestServiceLifecycleOnRealSwarm creates a labelled service of the test
// image with a host-mode published port, reaches the app through it,
// inspects it back and removes it.
func TestServiceLifecycleOnRealSwarm(t *testing.T) {
	t.Parallel()
	c := swarmtest.Client(t)
	instance := storetest.InstanceID(t)
	swarmtest.CleanupInstance(t, c, instance)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	pinned, err := paasswarm.ResolveImage(ctx, c, "paas-testapp:v1")
	if err != nil {
		t.Fatalf("resolve test image (built by hack/build-testapp.sh): %v", err)
	}
	if !strings.HasPrefix(pinned, "sha256:") {
		t.Fatalf("local image pinned to %q, want its image id", pinned)
	}
	port := swarmtest.FreePort(t)
	replicas := uint64(1)
	spec := swarm.ServiceSpec{
		Annotations: swarm.Annotations{
			Name: "lifecycle-" + instance,
			Labels: map[string]string{
				paasswarm.LabelManaged: "true", paasswarm.LabelInstance: instance, paasswarm.LabelAppID: "test",
			},
		},
		TaskTemplate: swarm.TaskSpec{ContainerSpec: &swarm.ContainerSpec{
			Image: pinned,
			Env:   []string{"ECHO_ENV=INSTANCE", "INSTANCE=" + instance},
		}},
		Mode: swarm.ServiceMode{Replicated: &swarm.ReplicatedService{Replicas: &replicas}},
		EndpointSpec: &swarm.EndpointSpec{Ports: []swarm.PortConfig{{
			Protocol: swarm.PortConfigProtocolTCP, TargetPort: 8080, PublishedPort: uint32(port),
			PublishMode: swarm.PortConfigPublishModeHost,
		}}},
	}
	created, err := c.ServiceCreate(ctx, spec, types.ServiceCreateOptions{})
	if err != nil {
		t.Fatal(err)
	}

	got, _, err := c.ServiceInspectWithRaw(ctx, created.ID, types.ServiceInspectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got.Spec.Labels[paasswarm.LabelInstance] != instance || got.Spec.TaskTemplate.ContainerSpec.Image != pinned {
		t.Fatalf("inspected service = labels %v image %q", got.Spec.Labels, got.Spec.TaskTemplate.ContainerSpec.Image)
	}
	listed, err := c.ServiceList(ctx, types.ServiceListOptions{Filters: paasswarm.InstanceFilter(instance)})
	if err != nil || len(listed) != 1 || listed[0].ID != created.ID {
		t.Fatalf("instance filter listed %d services, %v", len(listed), err)
	}

	var body struct {
		Version string            `json:"version"`
		Env     map[string]string `json:"env"`
	}
	swarmtest.Eventually(t, 90*time.Second, "test app answers on the published port", func() bool {
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/", port))
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		return resp.StatusCode == 200 && json.NewDecoder(resp.Body).Decode(&body) == nil
	})
	if body.Version != "v1" || body.Env["INSTANCE"] != instance {
		t.Fatalf("app answered %+v", body)
	}

	if err := c.ServiceRemove(ctx, created.ID); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.ServiceInspectWithRaw(ctx, created.ID, types.ServiceInspectOptions{}); err == nil {
		t.Fatal("service still inspectable after remove")
	}
}

func TestOperation(t *testing.T) {
	t.Parallel()
	for path, want := range map[string]string{
		"/v1.41/services":                         "/services",
		"/v1.41/services/abc123/update":           "/services/{id}/update",
		"/v1.41/services/create":                  "/services/create",
		"/services/abc":                           "/services/{id}",
		"/v1.41/images/registry:5000/a/b:v1/json": "/images/{ref}/json",
		"/v1.41/images/paas-testapp:v1/json":      "/images/{ref}/json",
		"/v1.41/tasks":                            "/tasks",
		"/_ping":                                  "/_ping",
		"/v1.41/networks/paas-public":             "/networks/{id}",
	} {
		if got := paasswarm.Operation(path); got != want {
			t.Errorf("Operation(%q) = %q, want %q", path, got, want)
		}
	}
}
