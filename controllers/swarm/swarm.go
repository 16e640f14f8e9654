// Package swarm holds the platform's small vocabulary for Docker Swarm: the
// client it builds, the ownership labels, and image pinning.
package swarm

import (
	"context"
	"fmt"
	"strings"

	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"
	"github.com/docker/docker/errdefs"

	"github.com/skypanel/paas/controllers/servicespec"
)

// Ownership labels carried by every service the platform creates, as
// servicespec renders them. Garbage collection only ever considers services
// whose LabelInstance is ours.
const (
	// LabelManaged marks a service as created by SkyPanel PaaS ("true").
	LabelManaged = servicespec.LabelManaged
	// LabelInstance holds the installation id that owns the service.
	LabelInstance = servicespec.LabelInstance
	// LabelAppID holds the uuid of the app the service runs.
	LabelAppID = servicespec.LabelAppID
	// LabelOrgID holds the uuid of the organization a service or network belongs to.
	LabelOrgID = servicespec.LabelOrgID
)

// NewClient connects to the engine named by DOCKER_HOST (default: the local
// socket), negotiating the API version so older engines work too.
func NewClient() (*client.Client, error) {
	c, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		return nil, fmt.Errorf("docker client: %w", err)
	}
	return c, nil
}

// InstanceFilter selects the services this installation manages.
func InstanceFilter(instanceID string) filters.Args {
	return filters.NewArgs(
		filters.Arg("label", LabelManaged+"=true"),
		filters.Arg("label", LabelInstance+"="+instanceID),
	)
}

// ImageInspector is the part of the Docker client ResolveImage needs.
type ImageInspector interface {
	ImageInspect(ctx context.Context, ref string, opts ...client.ImageInspectOption) (image.InspectResponse, error)
}

// ResolveImage pins ref to what it points to now on this engine (see
// PinImage); a release records the result so it runs exactly that image.
func ResolveImage(ctx context.Context, c ImageInspector, ref string) (string, error) {
	img, err := c.ImageInspect(ctx, ref)
	if err != nil {
		if errdefs.IsNotFound(err) {
			return "", fmt.Errorf("image %s not found on the engine: %w", ref, err)
		}
		return "", fmt.Errorf("inspect image %s: %w", ref, err)
	}
	return PinImage(ref, img.ID, img.RepoDigests), nil
}

// PinImage picks the immutable reference a release runs: the repository
// digest matching ref's repository when the image came from a registry,
// else the local image id, which Swarm runs without trying to pull.
func PinImage(ref, id string, repoDigests []string) string {
	repo := ref
	if i := strings.LastIndex(repo, "@"); i >= 0 {
		repo = repo[:i]
	}
	if i := strings.LastIndex(repo, ":"); i > strings.LastIndex(repo, "/") {
		repo = repo[:i]
	}
	for _, d := range repoDigests {
		if strings.HasPrefix(d, repo+"@") {
			return d
		}
	}
	return id
}
