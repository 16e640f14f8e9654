package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/skypanel/paas/api/client"
	"github.com/skypanel/paas/cmd/paasctl/internal/output"
	"github.com/skypanel/paas/store/spec"
)

// waitFlags are --wait and --timeout, shared by the commands that change
// an app.
type waitFlags struct {
	wait    bool
	timeout time.Duration
}

func (w *waitFlags) add(cmd *cobra.Command) {
	cmd.Flags().BoolVar(&w.wait, "wait", false, "then wait for the rollout (as rollout status does)")
	cmd.Flags().DurationVar(&w.timeout, "timeout", 10*time.Minute, "with --wait: give up after this long")
}

// after waits for the apps' rollouts when --wait was given.
func (a *app) after(ctx context.Context, c *apiClient, w waitFlags, names ...string) error {
	if !w.wait || len(names) == 0 {
		return nil
	}
	return a.waitRollouts(ctx, c, names, w.timeout)
}

// printApp prints an app after a change: the message for people, the app
// for -o json/yaml.
func (a *app) printApp(app *client.App, msg string) error {
	if f, _ := a.format(); f != output.FormatTable {
		return output.Write(a.Out, f, app)
	}
	fmt.Fprintln(a.Out, msg)
	return nil
}

func (a *app) deployCmd() *cobra.Command {
	var image, ref string
	var w waitFlags
	cmd := &cobra.Command{
		Use:   "deploy NAME (--image IMAGE | --ref REF)",
		Short: "Deploy a new image, or build and deploy a git ref of an app's source",
		Long: `deploy --image sets an app's image; the platform rolls out a new release.

deploy --ref builds a branch, tag or commit sha of an app that has a source
(source: in paasctl apply) and queues the build: it prints the build's number
and returns. The build's output: paasctl logs NAME --build N -f; cancel it
with paasctl cancel NAME N. When the build succeeds, the built image rolls
out as a new release. With --wait, deploy follows the build's output, then
waits for the rollout.

An app built from source takes no --image (its images come from its builds),
and an app without source takes no --ref.`,
		Example: `  paasctl deploy web --image paas-testapp:v2
  paasctl deploy web --image registry.example.com/team/web:1.4 --wait
  paasctl deploy web --ref main
  paasctl deploy web --ref v1.4.0 --wait`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: a.completeApps,
		RunE: func(cmd *cobra.Command, args []string) error {
			switch {
			case image != "" && ref != "":
				return errors.New("deploy takes --image or --ref, not both: --image for an app that runs an image, --ref for an app built from source")
			case ref != "":
				return a.deployRef(cmd.Context(), args[0], ref, w)
			case image == "":
				return errors.New("deploy needs --image IMAGE (or --ref REF, for an app built from source)")
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			before, err := c.getApp(ctx, args[0])
			if err != nil {
				return err
			}
			if before.Spec.Image == image {
				if err := a.printApp(before, fmt.Sprintf("%s already runs %s: nothing to deploy", args[0], image)); err != nil {
					return err
				}
				return a.after(ctx, c, w, args[0])
			}
			app, err := expect[client.App](c)(c.c.CreateDeploymentWithBody(ctx, args[0], nil, "application/json", jsonBody(client.DeployRequest{Image: &image})))
			if err != nil {
				return err
			}
			if err := a.printApp(app, fmt.Sprintf("%s: deploying %s (was %s)", app.Name, image, before.Spec.Image)); err != nil {
				return err
			}
			return a.after(ctx, c, w, args[0])
		},
	}
	cmd.Flags().StringVar(&image, "image", "", "the image to run")
	cmd.Flags().StringVar(&ref, "ref", "", "the branch, tag or commit sha to build (an app with a source)")
	w.add(cmd)
	return cmd
}

// deployRef queues a build of ref and says how to follow it; with --wait
// it follows the build's output, then the rollout of what it built.
func (a *app) deployRef(ctx context.Context, name, ref string, w waitFlags) error {
	c, err := a.client()
	if err != nil {
		return err
	}
	b, err := expect[client.Build](c)(c.c.CreateDeploymentWithBody(ctx, name, nil, "application/json", jsonBody(client.DeployRequest{Ref: &ref})))
	if err != nil {
		return err
	}
	f, _ := a.format()
	if f != output.FormatTable {
		if err := output.Write(a.Out, f, b); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(a.Out, "%s: build %d of %s queued\n", name, b.Number, ref)
		if !w.wait {
			fmt.Fprintf(a.Out, "follow it:  paasctl logs %s --build %d -f\ncancel it:  paasctl cancel %s %d\n", name, b.Number, name, b.Number)
		}
	}
	if !w.wait {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, w.timeout)
	defer cancel()
	if err := a.buildLogs(ctx, c, name, b.Number, true); err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("build %d still running after %s (paasctl logs %s --build %d -f follows it)", b.Number, w.timeout, name, b.Number)
		}
		return err
	}
	b, err = expect[client.Build](c)(c.c.GetBuild(ctx, name, b.Number, nil))
	if err != nil {
		return err
	}
	if b.Status != "succeeded" {
		msg := b.Message
		if msg == "" {
			msg = "see paasctl logs " + name + " --build " + strconv.Itoa(int(b.Number))
		}
		return fmt.Errorf("build %d %s: %s", b.Number, b.Status, msg)
	}
	return a.waitRollouts(ctx, c, []string{name}, w.timeout)
}

func (a *app) cancelCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "cancel NAME DEPLOYMENT",
		Short: "Cancel a deployment from source while it is being built",
		Long: `cancel stops the build a deploy --ref queued. DEPLOYMENT is the build's number
(as deploy --ref prints it) or its id. A queued build is cancelled at once; a
running one is stopped by its runner within a second, leaving no image. A
build that already ended cannot be cancelled (roll back instead).`,
		Example: `  paasctl cancel web 7
  paasctl cancel web 3f2c9a0e-5d1b-4c8e-9f53-0a1b2c3d4e5f`,
		Args:              cobra.ExactArgs(2),
		ValidArgsFunction: a.completeApps,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			b, err := expect[client.Build](c)(c.c.CancelDeployment(cmd.Context(), args[0], args[1], nil))
			if err != nil {
				return err
			}
			if f, _ := a.format(); f != output.FormatTable {
				return output.Write(a.Out, f, b)
			}
			if b.Status == "cancelled" {
				fmt.Fprintf(a.Out, "%s: build %d cancelled\n", args[0], b.Number)
			} else {
				fmt.Fprintf(a.Out, "%s: build %d is being stopped (paasctl logs %s --build %d -f shows when)\n", args[0], b.Number, args[0], b.Number)
			}
			return nil
		},
	}
	return cmd
}

func (a *app) webhookSecretCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "webhook-secret NAME",
		Short: "Make a new push-webhook secret for an app built from source",
		Long: `webhook-secret replaces the app's push-webhook secret and prints the new one
with the URL to give the git host (GitHub or Gitea: the HMAC secret; GitLab:
the secret token). The old secret stops verifying at once. The secret is shown
only here and by the first PUT of a source; use this for a lost secret or an
app created by apply with its source.`,
		Example: `  paasctl webhook-secret web
  paasctl webhook-secret web -o json`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: a.completeApps,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			w, err := expect[client.WebhookSecret](c)(c.c.RotateWebhookSecret(cmd.Context(), args[0], nil))
			if err != nil {
				return err
			}
			if f, _ := a.format(); f != output.FormatTable {
				return output.Write(a.Out, f, w)
			}
			server, err := a.serverURL()
			if err != nil {
				return err
			}
			fmt.Fprintf(a.Out, "url:    %s%s\nsecret: %s\n", server, w.Path, w.WebhookSecret)
			return nil
		},
	}
}

func (a *app) scaleCmd() *cobra.Command {
	var w waitFlags
	cmd := &cobra.Command{
		Use:   "scale NAME=REPLICAS...",
		Short: "Set how many replicas of an app run",
		Long: `scale sets apps' replica counts (at most the plan's max_replicas). No new
release is cut; a stopped app keeps the count for when it starts again.`,
		Example: `  paasctl scale web=3
  paasctl scale web=3 api=1 --wait`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			type target struct {
				name string
				n    int
			}
			var targets []target
			for _, arg := range args {
				name, count, ok := strings.Cut(arg, "=")
				n, err := strconv.Atoi(count)
				if !ok || name == "" || err != nil || n < 0 {
					return fmt.Errorf("scale takes NAME=REPLICAS (for example web=3), not %q", arg)
				}
				targets = append(targets, target{name, n})
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			var names []string
			for _, t := range targets {
				app, err := expect[client.App](c)(c.c.ScaleAppWithBody(ctx, t.name, nil, "application/json", jsonBody(client.ScaleRequest{Replicas: t.n})))
				if err != nil {
					return fmt.Errorf("%s: %w", t.name, err)
				}
				msg := fmt.Sprintf("%s scaled to %d replicas", app.Name, t.n)
				if app.Spec.Stopped {
					msg += " (stopped: they run once started)"
				}
				if err := a.printApp(app, msg); err != nil {
					return err
				}
				names = append(names, t.name)
			}
			return a.after(ctx, c, w, names...)
		},
	}
	w.add(cmd)
	return cmd
}

// simpleAction builds stop, start and restart.
func (a *app) simpleAction(use, short, long, example, done string,
	call func(c *apiClient, ctx context.Context, name string) (*client.App, error)) *cobra.Command {
	var w waitFlags
	cmd := &cobra.Command{
		Use:               use + " NAME...",
		Short:             short,
		Long:              long,
		Example:           example,
		Args:              cobra.MinimumNArgs(1),
		ValidArgsFunction: a.completeApps,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			for _, n := range args {
				app, err := call(c, ctx, n)
				if err != nil {
					return fmt.Errorf("%s: %w", n, err)
				}
				if err := a.printApp(app, app.Name+" "+done); err != nil {
					return err
				}
			}
			return a.after(ctx, c, w, args...)
		},
	}
	w.add(cmd)
	return cmd
}

func (a *app) stopCmd() *cobra.Command {
	return a.simpleAction("stop", "Stop apps (scale to zero, keeping their replica count)",
		"stop scales apps to zero replicas; their replica count is kept for `paasctl start`.",
		"  paasctl stop web\n  paasctl stop web api --wait", "stopping",
		func(c *apiClient, ctx context.Context, n string) (*client.App, error) {
			return expect[client.App](c)(c.c.StopApp(ctx, n, nil))
		})
}

func (a *app) startCmd() *cobra.Command {
	return a.simpleAction("start", "Start stopped apps again",
		"start runs a stopped app's replicas again.",
		"  paasctl start web\n  paasctl start web --wait", "starting",
		func(c *apiClient, ctx context.Context, n string) (*client.App, error) {
			return expect[client.App](c)(c.c.StartApp(ctx, n, nil))
		})
}

func (a *app) restartCmd() *cobra.Command {
	return a.simpleAction("restart", "Restart every replica of apps (rolling)",
		"restart replaces every replica, one after another, keeping the app serving.",
		"  paasctl restart web\n  paasctl restart web --wait", "restarting",
		func(c *apiClient, ctx context.Context, n string) (*client.App, error) {
			return expect[client.App](c)(c.c.RestartApp(ctx, n, nil))
		})
}

func (a *app) rollbackCmd() *cobra.Command {
	var to int
	var w waitFlags
	cmd := &cobra.Command{
		Use:   "rollback NAME",
		Short: "Go back to an earlier release (its image, command, port, plan, health check and env)",
		Long: `rollback copies an earlier release's spec and env back into the app, which
cuts a new release recognised as a rollback. Without --to it goes to the
release before the one serving; when the newest release failed (the previous
one is still serving), it goes back to the serving one, so the spec matches
what runs.`,
		Example: `  paasctl rollback web
  paasctl rollback web --to 3 --wait`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: a.completeApps,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			name := args[0]
			if to == 0 {
				app, err := c.getApp(ctx, name)
				if err != nil {
					return err
				}
				ds, err := c.listDeployments(ctx, name, 100)
				if err != nil {
					return err
				}
				v, err := rollbackTarget(app, ds)
				if err != nil {
					return fmt.Errorf("%s: %w", name, err)
				}
				to = v
			}
			app, err := expect[client.App](c)(c.c.RollbackAppWithBody(ctx, name, nil, "application/json", jsonBody(client.RollbackRequest{Version: to})))
			if err != nil {
				return err
			}
			if err := a.printApp(app, fmt.Sprintf("%s: rolling back to release %d (%s)", app.Name, to, app.Spec.Image)); err != nil {
				return err
			}
			return a.after(ctx, c, w, name)
		},
	}
	cmd.Flags().IntVar(&to, "to", 0, "the release version to go back to (default: the previous one)")
	w.add(cmd)
	return cmd
}

// rollbackTarget picks the release `rollback` goes back to: the serving
// release when the newest one failed, else the newest deployed release
// older than the serving one. ds is newest first.
func rollbackTarget(app *client.App, ds []client.Deployment) (int, error) {
	if len(ds) == 0 {
		return 0, errors.New("no release yet")
	}
	cur := app.Status.CurrentDeployment
	if ds[0].Status == client.Failed || ds[0].Status == client.RolledBack {
		if cur != nil && cur.Version != ds[0].Version {
			return cur.Version, nil
		}
	}
	serving := ds[0].Version
	if cur != nil {
		serving = cur.Version
	}
	for _, d := range ds {
		if d.Version < serving && d.Status == client.Deployed {
			return d.Version, nil
		}
	}
	return 0, fmt.Errorf("no deployed release before release %d to go back to (see `paasctl get deployments %s`; --to picks one)", serving, app.Name)
}

func (a *app) envCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "env",
		Short: "List and change an app's environment variables",
		Long: `env manages an app's variables. Every change cuts a new release that rolls out
(values are encrypted at rest; PORT is reserved).`,
		Example: `  paasctl env list web
  paasctl env set web GREETING=hello DEBUG=1
  paasctl env unset web DEBUG
  paasctl env import web .env
  paasctl env export web > .env`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	var w waitFlags
	list := &cobra.Command{
		Use:               "list NAME",
		Aliases:           []string{"ls"},
		Short:             "Print an app's variables and values",
		Example:           "  paasctl env list web\n  paasctl env list web -o json",
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: a.completeApps,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			env, err := expect[client.EnvVars](c)(c.c.GetEnv(cmd.Context(), args[0], nil))
			if err != nil {
				return err
			}
			if f, _ := a.format(); f != output.FormatTable {
				return output.Write(a.Out, f, env)
			}
			if len(env.Env) == 0 {
				fmt.Fprintf(a.Err, "%s has no variables.\n", args[0])
				return nil
			}
			redacted := env.Redacted != nil && *env.Redacted
			t := output.NewTable("NAME", "VALUE")
			for _, k := range slices.Sorted(maps.Keys(env.Env)) {
				v := output.OneLine(env.Env[k])
				if redacted {
					v = "<hidden>"
				}
				t.Row(k, v)
			}
			if redacted {
				fmt.Fprintln(a.Err, "note: values are hidden: only owners and members of the organization read them")
			}
			return t.Write(a.Out)
		},
	}
	set := &cobra.Command{
		Use:   "set NAME KEY=VALUE...",
		Short: "Set variables (others are kept)",
		Example: `  paasctl env set web GREETING=hello
  paasctl env set web DATABASE_URL='postgres://db/app' DEBUG= --wait`,
		Args:              cobra.MinimumNArgs(2),
		ValidArgsFunction: a.completeApps,
		RunE: func(cmd *cobra.Command, args []string) error {
			want := map[string]string{}
			for _, kv := range args[1:] {
				k, v, ok := strings.Cut(kv, "=")
				if !ok {
					return fmt.Errorf("env set takes KEY=VALUE, not %q (KEY= sets an empty value)", kv)
				}
				if err := checkEnvKey(k); err != nil {
					return err
				}
				want[k] = v
			}
			return a.patchEnv(cmd.Context(), args[0], w, func(have map[string]string) map[string]any {
				patch := map[string]any{}
				for k, v := range want {
					if cur, ok := have[k]; !ok || cur != v {
						patch[k] = v
					}
				}
				return patch
			})
		},
	}
	unset := &cobra.Command{
		Use:               "unset NAME KEY...",
		Short:             "Remove variables",
		Example:           "  paasctl env unset web DEBUG OLD_FLAG",
		Args:              cobra.MinimumNArgs(2),
		ValidArgsFunction: a.completeApps,
		RunE: func(cmd *cobra.Command, args []string) error {
			for _, k := range args[1:] {
				if err := checkEnvKey(k); err != nil {
					return err
				}
			}
			return a.patchEnv(cmd.Context(), args[0], w, func(have map[string]string) map[string]any {
				patch := map[string]any{}
				for _, k := range args[1:] {
					if _, ok := have[k]; ok {
						patch[k] = nil
					} else {
						fmt.Fprintf(a.Err, "note: %s has no variable %s\n", args[0], k)
					}
				}
				return patch
			})
		},
	}
	var replace bool
	imp := &cobra.Command{
		Use:   "import NAME FILE",
		Short: "Set variables from a dotenv file (- for stdin)",
		Long: `import reads KEY=value lines (export KEY=value, # comments, "double" and
'single' quoted values) and sets them; variables not in the file are kept
unless --replace.`,
		Example: `  paasctl env import web .env
  paasctl env import web production.env --replace
  vault read -field=env secret/web | paasctl env import web -`,
		Args:              cobra.ExactArgs(2),
		ValidArgsFunction: a.completeApps,
		RunE: func(cmd *cobra.Command, args []string) error {
			var data []byte
			var err error
			if args[1] == "-" {
				data, err = io.ReadAll(a.stdinLines())
			} else {
				data, err = os.ReadFile(args[1])
			}
			if err != nil {
				return fmt.Errorf("read %s: %v", args[1], unwrapPathError(err))
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			params := &client.ImportEnvParams{}
			if replace {
				params.Replace = &replace
			}
			env, err := expect[client.EnvVars](c)(c.c.ImportEnvWithBody(ctx, args[0], params, "text/plain", strings.NewReader(string(data))))
			if err != nil {
				return err
			}
			if f, _ := a.format(); f != output.FormatTable {
				return output.Write(a.Out, f, env)
			}
			fmt.Fprintf(a.Out, "%s: imported; %d variables now set\n", args[0], len(env.Env))
			return a.after(ctx, c, w, args[0])
		},
	}
	imp.Flags().BoolVar(&replace, "replace", false, "remove variables that are not in the file")
	export := &cobra.Command{
		Use:               "export NAME",
		Short:             "Print an app's variables as a dotenv file",
		Example:           "  paasctl env export web > web.env",
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: a.completeApps,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			body, err := expectText(c)(c.c.ExportEnv(cmd.Context(), args[0], nil))
			if err != nil {
				return err
			}
			_, err = a.Out.Write(body)
			return err
		},
	}
	for _, sub := range []*cobra.Command{set, unset, imp} {
		w.add(sub)
	}
	cmd.AddCommand(list, set, unset, imp, export)
	return cmd
}

// checkEnvKey refuses a variable name the API would refuse, before any
// request is sent.
func checkEnvKey(k string) error {
	if err := spec.CheckEnvKey(k); err != nil {
		return fmt.Errorf("variable %q: %w", k, err)
	}
	return nil
}

// patchEnv reads the app's env, asks change for the merge patch of it and
// writes it in one request (one new release); nothing is written when the
// patch is empty.
func (a *app) patchEnv(ctx context.Context, name string, w waitFlags, change func(have map[string]string) map[string]any) error {
	c, err := a.client()
	if err != nil {
		return err
	}
	app, err := c.getApp(ctx, name)
	if err != nil {
		return err
	}
	patch := change(app.Spec.Env)
	if len(patch) == 0 {
		if err := a.printApp(app, name+": env unchanged"); err != nil {
			return err
		}
		return a.after(ctx, c, w, name)
	}
	// A merge patch of env keys is right whatever else changed meanwhile.
	body := map[string]any{"spec": map[string]any{"env": patch}}
	updated, err := expect[client.App](c)(c.c.PatchAppWithBody(ctx, name, nil, "application/merge-patch+json", jsonBody(body)))
	if err != nil {
		return err
	}
	var set, unset []string
	for _, k := range slices.Sorted(maps.Keys(patch)) {
		if patch[k] == nil {
			unset = append(unset, k)
		} else {
			set = append(set, k)
		}
	}
	var parts []string
	if len(set) > 0 {
		parts = append(parts, "set "+strings.Join(set, ", "))
	}
	if len(unset) > 0 {
		parts = append(parts, "removed "+strings.Join(unset, ", "))
	}
	if err := a.printApp(updated, fmt.Sprintf("%s: %s (a new release rolls out)", name, strings.Join(parts, "; "))); err != nil {
		return err
	}
	return a.after(ctx, c, w, name)
}
