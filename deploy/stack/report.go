package stack

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/swarm"
	"github.com/docker/docker/client"
)

// Observer is the part of the engine API Report reads.
type Observer interface {
	ServiceList(ctx context.Context, opts swarm.ServiceListOptions) ([]swarm.Service, error)
	TaskList(ctx context.Context, opts swarm.TaskListOptions) ([]swarm.Task, error)
	ImageInspect(ctx context.Context, ref string, opts ...client.ImageInspectOption) (image.InspectResponse, error)
}

// ServiceState is how one of the stack's services stands.
type ServiceState struct {
	// Name is the service's name.
	Name string
	// Image is the image it runs.
	Image string
	// Running and Desired count its tasks.
	Running, Desired uint64
	// Message says in a sentence what the state is.
	Message string
	// Ready is true when every desired task runs.
	Ready bool
}

// PendingPull is the message of a service whose image this node does not
// have and could not pull.
func PendingPull(image string) string {
	return fmt.Sprintf("pending: image %s cannot be pulled from here (no registry reachable?) — tasks will start when the node can pull it", image)
}

// Report waits up to wait for the stack's services to run, polling every
// poll, then returns each one's state. A service whose image cannot be
// pulled is reported as pending, not as an error: its tasks start once the
// node can pull the image.
func Report(ctx context.Context, o Observer, stack string, wait, poll time.Duration) ([]ServiceState, error) {
	deadline := time.Now().Add(wait)
	for {
		states, settled, err := observe(ctx, o, stack)
		if err != nil {
			return nil, err
		}
		if settled || !time.Now().Before(deadline) {
			return finish(ctx, o, states), nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(poll):
		}
	}
}

// observe reads every service's task counts; settled when each runs or
// has already failed to get its image.
func observe(ctx context.Context, o Observer, stack string) ([]ServiceState, bool, error) {
	list, err := o.ServiceList(ctx, swarm.ServiceListOptions{Filters: stackFilter(stack), Status: true})
	if err != nil {
		return nil, false, fmt.Errorf("list services: %w", err)
	}
	sort.Slice(list, func(i, j int) bool { return list[i].Spec.Name < list[j].Spec.Name })
	settled := true
	states := make([]ServiceState, 0, len(list))
	for _, s := range list {
		st := ServiceState{Name: s.Spec.Name}
		if cs := s.Spec.TaskTemplate.ContainerSpec; cs != nil {
			st.Image = cs.Image
		}
		if s.ServiceStatus != nil {
			st.Running, st.Desired = s.ServiceStatus.RunningTasks, s.ServiceStatus.DesiredTasks
		}
		if st.Desired > 0 && st.Running >= st.Desired {
			st.Ready = true
			st.Message = fmt.Sprintf("running (%d/%d tasks)", st.Running, st.Desired)
		} else {
			taskErr, err := lastTaskError(ctx, o, s.ID)
			if err != nil {
				return nil, false, err
			}
			if isPullError(taskErr) {
				st.Message = PendingPull(st.Image)
			} else {
				settled = false
				st.Message = fmt.Sprintf("not running yet (%d/%d tasks)", st.Running, st.Desired)
				if taskErr != "" {
					st.Message += ": " + taskErr
				}
			}
		}
		states = append(states, st)
	}
	return states, settled, nil
}

// finish turns a service still waiting for an image the node does not
// have into the pending-pull message.
func finish(ctx context.Context, o Observer, states []ServiceState) []ServiceState {
	for i, st := range states {
		if st.Ready || st.Image == "" || strings.HasPrefix(st.Message, "pending:") {
			continue
		}
		if _, err := o.ImageInspect(ctx, st.Image); err != nil {
			states[i].Message = PendingPull(st.Image)
		}
	}
	return states
}

// lastTaskError is the error of the service's newest task that failed, if any.
func lastTaskError(ctx context.Context, o Observer, serviceID string) (string, error) {
	tasks, err := o.TaskList(ctx, swarm.TaskListOptions{Filters: filters.NewArgs(filters.Arg("service", serviceID))})
	if err != nil {
		return "", fmt.Errorf("list tasks: %w", err)
	}
	var newest *swarm.Task
	for i := range tasks {
		if tasks[i].Status.Err != "" && (newest == nil || tasks[i].Meta.CreatedAt.After(newest.Meta.CreatedAt)) {
			newest = &tasks[i]
		}
	}
	if newest == nil {
		return "", nil
	}
	return newest.Status.Err, nil
}

// isPullError says whether a task error means the image could not be had.
func isPullError(msg string) bool {
	m := strings.ToLower(msg)
	return strings.Contains(m, "no such image") || strings.Contains(m, "pull access denied") ||
		strings.Contains(m, "error pulling") || strings.Contains(m, "manifest unknown")
}
