package cli

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/skypanel/paas/api/client"
	"github.com/skypanel/paas/cmd/paasctl/internal/manifest"
	"github.com/skypanel/paas/cmd/paasctl/internal/output"
)

// applyResult is what apply did to one app (printed, or the -o json item).
type applyResult struct {
	Name    string            `json:"name"`
	Action  string            `json:"action"` // created, configured, unchanged, failed
	Changes []manifest.Change `json:"-"`
	Summary string            `json:"summary,omitempty"`
	// NewRelease says the change cuts a release (a rollout follows).
	NewRelease bool        `json:"new_release"`
	Error      string      `json:"error,omitempty"`
	App        *client.App `json:"app,omitempty"`
}

func (a *app) applyCmd() *cobra.Command {
	var files []string
	var wait bool
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "apply -f FILE",
		Short: "Create or update apps to match a YAML file",
		Long: `apply makes the apps declared in the file(s) exist with the declared spec: it
creates missing apps and changes only what differs from the live spec (one
write per app, so one new release at most). An app that already matches is
reported "unchanged" and nothing is written: applying a file twice triggers no
rollout. Fields the file leaves out are left as they are; env, when present,
is the whole set of variables.

A file holds one or more apps, as YAML documents separated by ---:

  name: web
  spec:
    image: paas-testapp:v1
    replicas: 2
    port: 8080
    plan: hobby
    env:
      GREETING: hello
  ---
  name: api
  spec:
    image: paas-testapp:v1

Spec fields: image, replicas, port, plan, command, health_check (command or
path, interval_seconds, timeout_seconds, retries, start_period_seconds; null
removes it), stopped, env, domains (the whole set of custom hostnames: new
ones are added pending their TXT proof, see paasctl domains; missing ones are
removed), source. Unknown fields are refused.

source builds the app from git instead of running an image of your own:

  name: web
  spec:
    source:
      git: {url: https://git.example.com/acme/web.git, ref: main, path: ""}
      dockerfile: Dockerfile     # or builder: auto (detects the stack)

image and source are exclusive (the app's images come from its builds);
a new app is created with its source and its first build queued (it has no
image, and runs nothing, until that build succeeds); on an existing app apply
sets the source, and paasctl deploy web --ref main builds and deploys it.`,
		Example: `  paasctl apply -f app.yaml
  paasctl apply -f web.yaml -f api.yaml --wait
  cat app.yaml | paasctl apply -f -`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if len(files) == 0 {
				return errors.New("apply needs -f FILE (or -f - for stdin)")
			}
			apps, err := a.readManifests(files)
			if err != nil {
				return err
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			f, _ := a.format()
			var results []applyResult
			var changed []string
			failed := 0
			for _, m := range apps {
				r := a.applyOne(ctx, c, m)
				results = append(results, r)
				switch r.Action {
				case "failed":
					failed++
					if f == output.FormatTable {
						a.report(fmt.Errorf("app/%s: %s", r.Name, r.Error))
					}
				case "created", "configured":
					changed = append(changed, r.Name)
					fallthrough
				default:
					if f == output.FormatTable {
						a.printApplied(r)
					}
				}
				if ctx.Err() != nil {
					return ctx.Err()
				}
			}
			if f != output.FormatTable {
				if err := output.Write(a.Out, f, map[string]any{"items": results}); err != nil {
					return err
				}
			}
			if wait && len(changed) > 0 {
				if err := a.waitRollouts(ctx, c, changed, timeout); err != nil {
					return err
				}
			}
			if failed > 0 {
				return &exitError{code: exitError1}
			}
			return nil
		},
	}
	cmd.Flags().StringArrayVarP(&files, "filename", "f", nil, "file of apps to apply (repeatable; - for stdin)")
	cmd.Flags().BoolVar(&wait, "wait", false, "then wait for the rollouts of what changed (as rollout status does)")
	cmd.Flags().DurationVar(&timeout, "timeout", 10*time.Minute, "with --wait: give up after this long")
	_ = cmd.MarkFlagFilename("filename", "yaml", "yml")
	return cmd
}

func (a *app) printApplied(r applyResult) {
	cl := a.colors()
	switch r.Action {
	case "created":
		note := ""
		if r.App != nil && r.App.Spec.Image == "" { // created from source: its first build is queued
			note = fmt.Sprintf(" (build 1 queued; follow it: paasctl logs %s --build 1 -f)", r.Name)
		}
		fmt.Fprintf(a.Out, "app/%s %s%s\n", r.Name, cl.Green("created"), note)
	case "configured":
		note := ""
		if r.NewRelease {
			note = " (a new release rolls out)"
		}
		fmt.Fprintf(a.Out, "app/%s %s: %s%s\n", r.Name, cl.Yellow("configured"), r.Summary, note)
	default:
		fmt.Fprintf(a.Out, "app/%s unchanged\n", r.Name)
	}
}

// appSource reads the app's git source; nil when it has none.
func (c *apiClient) appSource(ctx context.Context, app string) (*client.AppSourceAnswer, error) {
	got, err := expect[client.AppSourceAnswer](c)(c.c.GetAppSource(ctx, app, nil))
	if isStatus(err, http.StatusNotFound) {
		return nil, nil
	}
	return got, err
}

// applyOne creates or patches one app, then sets its source when the file
// declares one.
func (a *app) applyOne(ctx context.Context, c *apiClient, m manifest.App) applyResult {
	r := a.applySpec(ctx, c, m)
	if r.Action == "failed" || m.Spec.Source == nil {
		return r
	}
	live, err := c.appSource(ctx, m.Name)
	if err != nil {
		r.Action, r.Error = "failed", errorText(err)
		return r
	}
	changes := manifest.SourceChanges(*m.Spec.Source, live)
	if len(changes) == 0 {
		return r
	}
	if _, err := expect[client.AppSourceAnswer](c)(c.c.SetAppSourceWithBody(ctx, m.Name, nil, "application/json", jsonBody(m.Spec.Source))); err != nil {
		r.Action, r.Error = "failed", fmt.Sprintf("the spec was applied (%s), but not the source: %s", r.Action, errorText(err))
		return r
	}
	r.Changes = append(r.Changes, changes...)
	summary := manifest.Summary(manifest.Plan{Changes: changes})
	if live == nil {
		summary = "source " + manifest.ShowSource(*m.Spec.Source) + " (deploy it: paasctl deploy " + m.Name + " --ref " + m.Spec.Source.Git.Ref + ")"
	}
	switch r.Action {
	case "unchanged":
		r.Action, r.Summary = "configured", summary
	case "configured":
		r.Summary += ", " + summary
	}
	return r
}

// applySpec creates or patches one app. A patch names the version it was
// computed against (If-Match); if someone changed the app in between, it
// is computed again.
func (a *app) applySpec(ctx context.Context, c *apiClient, m manifest.App) applyResult {
	r := applyResult{Name: m.Name}
	fail := func(err error) applyResult {
		r.Action, r.Error = "failed", errorText(err)
		return r
	}
	for attempt := 0; ; attempt++ {
		live, err := c.findApp(ctx, m.Name)
		if err != nil {
			return fail(err)
		}
		if live != nil && live.DeletedAt != nil {
			return fail(errors.New("the app is being deleted; apply again once it is gone (`paasctl get apps -w` shows when)"))
		}
		plan := manifest.Compare(m, live)
		r.Changes, r.Summary, r.NewRelease = plan.Changes, manifest.Summary(plan), plan.Create || manifest.Reconfigures(plan)
		switch {
		case plan.Create:
			if m.Spec.Image == nil && m.Spec.Source == nil {
				return fail(fmt.Errorf("%s: a new app needs spec.image or spec.source", m.Source))
			}
			created, err := expect[client.App](c)(c.c.CreateAppWithBody(ctx, nil, "application/json", jsonBody(manifest.CreateRequest(m))))
			if err != nil {
				return fail(err)
			}
			r.Action, r.App = "created", created
			return r
		case plan.Unchanged():
			r.Action, r.App = "unchanged", live
			return r
		}
		version := strconv.Quote(strconv.FormatInt(live.Version, 10))
		updated, err := expect[client.App](c)(c.c.PatchAppWithBody(ctx, m.Name, &client.PatchAppParams{IfMatch: &version},
			"application/merge-patch+json", jsonBody(plan.Patch)))
		if isStatus(err, http.StatusPreconditionFailed) && attempt < 3 {
			continue
		}
		if err != nil {
			return fail(err)
		}
		r.Action, r.App = "configured", updated
		return r
	}
}

// errorText is an error as one line plus the problem's field errors.
func errorText(err error) string {
	var p *problemError
	if errors.As(err, &p) && len(p.details()) > 0 {
		return err.Error() + ": " + strings.Join(p.details(), "; ")
	}
	return err.Error()
}

func (a *app) diffCmd() *cobra.Command {
	var files []string
	var showValues, exitCode bool
	cmd := &cobra.Command{
		Use:   "diff -f FILE",
		Short: "Show what apply would change, without changing anything",
		Long: `diff compares the apps of the file(s) with the live ones and prints each
difference: + added, - removed, ~ changed. Env values are hidden unless
--show-values. It exits 0 whether or not there are differences, unless
--exit-code: then 2 means "differences found" (and 1 an error).`,
		Example: `  paasctl diff -f app.yaml
  paasctl diff -f app.yaml --show-values
  paasctl diff -f app.yaml --exit-code || echo "out of date"`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if len(files) == 0 {
				return errors.New("diff needs -f FILE (or -f - for stdin)")
			}
			apps, err := a.readManifests(files)
			if err != nil {
				return err
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			f, _ := a.format()
			var plans []manifest.Plan
			differ := false
			for _, m := range apps {
				live, err := c.findApp(cmd.Context(), m.Name)
				if err != nil {
					return err
				}
				p := manifest.Compare(m, live)
				if m.Spec.Source != nil && live != nil {
					src, err := c.appSource(cmd.Context(), m.Name)
					if err != nil {
						return err
					}
					p.Changes = append(p.Changes, manifest.SourceChanges(*m.Spec.Source, src)...)
				}
				plans = append(plans, p)
				if !p.Unchanged() {
					differ = true
				}
				if f == output.FormatTable {
					manifest.RenderDiff(a.Out, p, manifest.RenderOptions{Color: a.colors().Enabled, ShowValues: showValues})
				}
			}
			if f != output.FormatTable {
				items := make([]map[string]any, 0, len(plans))
				for _, p := range plans {
					changes := make([]map[string]string, 0, len(p.Changes))
					for _, ch := range p.Changes {
						old, nw := ch.Old, ch.New
						if ch.Secret && !showValues {
							old, nw = hidden(old), hidden(nw)
						}
						changes = append(changes, map[string]string{"op": string(ch.Op), "field": ch.Field, "old": old, "new": nw})
					}
					items = append(items, map[string]any{"name": p.App.Name, "create": p.Create, "changes": changes})
				}
				if err := output.Write(a.Out, f, map[string]any{"items": items}); err != nil {
					return err
				}
			}
			if exitCode && differ {
				return &exitError{code: exitDiffFound}
			}
			return nil
		},
	}
	cmd.Flags().StringArrayVarP(&files, "filename", "f", nil, "file of apps to compare (repeatable; - for stdin)")
	cmd.Flags().BoolVar(&showValues, "show-values", false, "print env values instead of hiding them")
	cmd.Flags().BoolVar(&exitCode, "exit-code", false, "exit 2 when there are differences")
	_ = cmd.MarkFlagFilename("filename", "yaml", "yml")
	return cmd
}

func hidden(s string) string {
	if s == "" {
		return ""
	}
	return "(hidden)"
}

func (a *app) deleteCmd() *cobra.Command {
	var files []string
	var wait, ignoreNotFound bool
	var timeout time.Duration
	run := func(ctx context.Context, names []string) error {
		c, err := a.client()
		if err != nil {
			return err
		}
		failed := 0
		var deleted []string
		for _, n := range names {
			_, err := expect[client.App](c)(c.c.DeleteApp(ctx, n, nil))
			switch {
			case isStatus(err, http.StatusNotFound) && ignoreNotFound:
				continue
			case err != nil:
				a.report(fmt.Errorf("app/%s: %w", n, err))
				failed++
				continue
			}
			deleted = append(deleted, n)
			fmt.Fprintf(a.Out, "app/%s deleted (its service is being removed)\n", n)
		}
		if wait {
			deadline := time.Now().Add(timeout)
			for _, n := range deleted {
				for {
					app, err := c.findApp(ctx, n)
					if err != nil {
						return err
					}
					if app == nil {
						fmt.Fprintf(a.Out, "app/%s gone\n", n)
						break
					}
					if time.Now().After(deadline) {
						return fmt.Errorf("app/%s: still %s after %s", n, app.Status.Phase, timeout)
					}
					select {
					case <-ctx.Done():
						return ctx.Err()
					case <-time.After(500 * time.Millisecond):
					}
				}
			}
		}
		if failed > 0 {
			return &exitError{code: exitError1}
		}
		return nil
	}
	cmd := &cobra.Command{
		Use:   "delete (app NAME... | -f FILE)",
		Short: "Delete apps (their services are removed from the Swarm)",
		Long: `delete marks apps deleted; the platform removes their services and routes, then
forgets them. With -f it deletes every app of the file. --wait waits until
they are gone.`,
		Example: `  paasctl delete app web
  paasctl delete app web api --wait
  paasctl delete -f app.yaml`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if len(files) == 0 {
				return errors.New("say what to delete: paasctl delete app NAME, or paasctl delete -f FILE")
			}
			apps, err := a.readManifests(files)
			if err != nil {
				return err
			}
			var names []string
			for _, m := range apps {
				names = append(names, m.Name)
			}
			return run(cmd.Context(), names)
		},
	}
	appCmd := &cobra.Command{
		Use:     "app NAME...",
		Aliases: []string{"apps"},
		Short:   "Delete apps by name",
		Example: `  paasctl delete app web
  paasctl delete app web --wait`,
		Args:              cobra.MinimumNArgs(1),
		ValidArgsFunction: a.completeApps,
		RunE: func(cmd *cobra.Command, args []string) error {
			return run(cmd.Context(), slices.Compact(args))
		},
	}
	for _, c := range []*cobra.Command{cmd, appCmd} {
		c.Flags().BoolVar(&wait, "wait", false, "wait until the apps are gone")
		c.Flags().DurationVar(&timeout, "timeout", 5*time.Minute, "with --wait: give up after this long")
		c.Flags().BoolVar(&ignoreNotFound, "ignore-not-found", false, "do not fail for apps that do not exist")
	}
	cmd.Flags().StringArrayVarP(&files, "filename", "f", nil, "delete the apps of this file (- for stdin)")
	cmd.AddCommand(appCmd)
	return cmd
}
