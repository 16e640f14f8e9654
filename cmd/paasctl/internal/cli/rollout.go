package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/skypanel/paas/api/client"
	"github.com/skypanel/paas/cmd/paasctl/internal/manifest"
	"github.com/skypanel/paas/cmd/paasctl/internal/sse"
)

// rolloutState is where an app's rollout stands, as judged by evaluateRollout.
type rolloutState int

const (
	rolloutWaiting rolloutState = iota
	rolloutDone
	rolloutFailed
	// rolloutBlocked: the platform cannot act on the spec (a missing
	// image...). It may be a stale report about an older spec, so it only
	// counts as a failure once it persists (blockedGrace).
	rolloutBlocked
)

// blockedGrace is how long a blocked spec must stay blocked before rollout
// status gives up: the platform acts on a new spec within moments, so a
// condition still blocking after this is about the current spec.
const blockedGrace = 10 * time.Second

// evaluateRollout judges an app's rollout from its status and its newest
// release (nil when none): done once the platform acted on the current
// spec, the newest release is deployed and running replicas equal desired;
// failed when the newest release failed. message is the progress line or
// the failure.
//
// status.current_deployment is not the release to judge: after a failed
// rollout it names the previous release, which keeps serving.
func evaluateRollout(app *client.App, latest *client.Deployment) (rolloutState, string) {
	st := app.Status
	replicas := replicaText(st.RunningReplicas, st.DesiredReplicas)
	if app.DeletedAt != nil {
		return rolloutFailed, "the app is being deleted"
	}
	if st.ObservedGeneration < st.Generation {
		if c := condition(app, "Degraded"); c != nil && c.Status == client.True && c.Reason != "RolloutFailed" {
			return rolloutBlocked, fmt.Sprintf("%s: %s", c.Reason, c.Message)
		}
		return rolloutWaiting, fmt.Sprintf("waiting for the platform to act on the new spec (generation %d)", st.Generation)
	}
	if latest == nil {
		if c := condition(app, "Degraded"); c != nil && c.Status == client.True {
			return rolloutBlocked, fmt.Sprintf("%s: %s", c.Reason, c.Message)
		}
		return rolloutWaiting, "waiting for the first release"
	}
	switch latest.Status {
	case client.Failed, client.RolledBack:
		msg := latest.Message
		if msg == "" {
			msg = "no reason given"
		}
		return rolloutFailed, fmt.Sprintf("release %d failed: %s", latest.Version, msg)
	case client.Deployed:
		if c := condition(app, "Progressing"); c != nil && c.Status == client.True {
			return rolloutWaiting, fmt.Sprintf("release %d deployed, %s", latest.Version, c.Message)
		}
		if st.RunningReplicas == st.DesiredReplicas {
			return rolloutDone, fmt.Sprintf("release %d deployed: %s", latest.Version, replicas)
		}
		if st.RunningReplicas > st.DesiredReplicas {
			return rolloutWaiting, fmt.Sprintf("release %d deployed, old tasks stopping: %s", latest.Version, replicas)
		}
		return rolloutWaiting, fmt.Sprintf("release %d deployed, scaling: %s", latest.Version, replicas)
	case client.Superseded:
		return rolloutWaiting, fmt.Sprintf("release %d superseded; waiting for the next one", latest.Version)
	}
	return rolloutWaiting, fmt.Sprintf("release %d rolling out: %s", latest.Version, replicas)
}

// replicaText is "2/3 replicas running", or, while old and new tasks
// overlap (a start-first rollout, a scale-down), "5 tasks running for 3 replicas".
func replicaText(running, desired int) string {
	if running > desired {
		return fmt.Sprintf("%d tasks running for %d replicas", running, desired)
	}
	return fmt.Sprintf("%d/%d replicas running", running, desired)
}

func (a *app) rolloutCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "rollout",
		Short:   "Wait for an app's rollout",
		Example: "  paasctl rollout status web",
		Args:    cobra.NoArgs,
		RunE:    func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	var timeout time.Duration
	var files []string
	status := &cobra.Command{
		Use:   "status NAME...",
		Short: "Wait until an app's current release is deployed (exit 0) or failed (exit 1)",
		Long: `rollout status waits until the platform has acted on the app's current spec
and its newest release is deployed with every desired replica running; then
it exits 0. If the release fails (a crashing image: Swarm rolls back and the
previous release keeps serving), it prints the task's error and exits 1; so
it does when --timeout passes. A progress line shows running/desired replicas.`,
		Example: `  paasctl apply -f app.yaml && paasctl rollout status web
  paasctl rollout status web api --timeout 2m
  paasctl rollout status -f app.yaml`,
		ValidArgsFunction: a.completeApps,
		RunE: func(cmd *cobra.Command, args []string) error {
			names := append([]string(nil), args...)
			if len(files) > 0 {
				apps, err := a.readManifests(files)
				if err != nil {
					return err
				}
				for _, ap := range apps {
					names = append(names, ap.Name)
				}
			}
			if len(names) == 0 {
				return errors.New("rollout status needs an app name or -f FILE")
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			return a.waitRollouts(cmd.Context(), c, names, timeout)
		},
	}
	status.Flags().DurationVar(&timeout, "timeout", 10*time.Minute, "give up (exit 1) after this long")
	status.Flags().StringArrayVarP(&files, "filename", "f", nil, "wait for every app of this file (- for stdin)")
	cmd.AddCommand(status)
	return cmd
}

// waitRollouts waits for each app in turn (their rollouts run at once on
// the server, so the total is the slowest one's); every failure is
// reported, and any makes the run fail.
func (a *app) waitRollouts(ctx context.Context, c *apiClient, names []string, timeout time.Duration) error {
	deadline := a.now().Add(timeout)
	failed := 0
	for _, n := range names {
		if err := a.waitRollout(ctx, c, n, deadline, timeout); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			a.report(err)
			failed++
		}
	}
	if failed > 0 {
		return &exitError{code: exitError1}
	}
	return nil
}

// waitRollout waits for one app, woken by the watch stream (and a slow
// ticker in case the stream is down).
func (a *app) waitRollout(ctx context.Context, c *apiClient, name string, deadline time.Time, timeout time.Duration) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	wake := make(chan struct{}, 1)
	go func() {
		_ = c.watch(ctx, name, func(ev sse.Event, _ *client.App, _ *client.DeletedApp) error {
			select {
			case wake <- struct{}{}:
			default:
			}
			return nil
		})
	}()
	p := a.progress()
	defer p.end()
	var blockedSince time.Time
	tick := time.NewTicker(2 * time.Second)
	defer tick.Stop()
	for {
		app, err := c.getApp(ctx, name)
		if err != nil {
			if isStatus(err, http.StatusNotFound) {
				return fmt.Errorf("%s: no such app", name)
			}
			return err
		}
		ds, err := c.listDeployments(ctx, name, 1)
		if err != nil {
			return err
		}
		var latest *client.Deployment
		if len(ds) > 0 {
			latest = &ds[0]
		}
		state, msg := evaluateRollout(app, latest)
		switch state {
		case rolloutDone:
			p.done(fmt.Sprintf("%s: %s", name, msg))
			return nil
		case rolloutFailed:
			p.end()
			return fmt.Errorf("%s: %s", name, msg)
		case rolloutBlocked:
			if blockedSince.IsZero() {
				blockedSince = a.now()
			} else if a.now().Sub(blockedSince) >= blockedGrace {
				p.end()
				return fmt.Errorf("%s: the platform cannot deploy the spec: %s", name, msg)
			}
		default:
			blockedSince = time.Time{}
		}
		p.update(fmt.Sprintf("%s: %s", name, msg))
		if !a.now().Before(deadline) {
			p.end()
			return fmt.Errorf("%s: timed out after %s: %s", name, timeout, msg)
		}
		wait := time.NewTimer(time.Until(deadline))
		select {
		case <-ctx.Done():
			wait.Stop()
			return ctx.Err()
		case <-wake:
		case <-tick.C:
		case <-wait.C:
		}
		wait.Stop()
	}
}

// progress prints a rollout's progress: rewritten in place on a terminal,
// one line per change elsewhere.
type progress struct {
	w     io.Writer
	tty   bool
	last  string
	shown bool
}

func (a *app) progress() *progress {
	return &progress{w: a.Out, tty: a.OutTTY}
}

func (p *progress) update(line string) {
	if line == p.last {
		return
	}
	p.last = line
	if p.tty {
		fmt.Fprint(p.w, "\r\x1b[K"+line)
		p.shown = true
		return
	}
	fmt.Fprintln(p.w, line)
}

func (p *progress) done(line string) {
	if p.tty {
		fmt.Fprint(p.w, "\r\x1b[K"+line+"\n")
		p.shown = false
		return
	}
	if line != p.last {
		fmt.Fprintln(p.w, line)
	}
	p.last = line
}

// end finishes an in-place line so what follows starts on its own line.
func (p *progress) end() {
	if p.tty && p.shown {
		fmt.Fprintln(p.w)
		p.shown = false
	}
}

// readManifests reads and parses every -f file ("-" is stdin, read once).
func (a *app) readManifests(files []string) ([]manifest.App, error) {
	var all []manifest.App
	stdinUsed := false
	for _, f := range files {
		var data []byte
		var err error
		if f == "-" {
			if stdinUsed {
				return nil, errors.New("-f - (stdin) can be given once")
			}
			stdinUsed = true
			data, err = io.ReadAll(a.stdinLines())
		} else {
			data, err = os.ReadFile(f)
		}
		if err != nil {
			return nil, fmt.Errorf("read %s: %v", f, unwrapPathError(err))
		}
		apps, err := manifest.Parse(f, data)
		if err != nil {
			return nil, err
		}
		all = append(all, apps...)
	}
	if err := manifest.CheckUnique(all); err != nil {
		return nil, err
	}
	return all, nil
}

func unwrapPathError(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
