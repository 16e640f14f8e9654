package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/skypanel/paas/api/client"
	"github.com/skypanel/paas/cmd/paasctl/internal/manifest"
	"github.com/skypanel/paas/cmd/paasctl/internal/output"
	"github.com/skypanel/paas/cmd/paasctl/internal/sse"
)

// --- API helpers -----------------------------------------------------------

func (c *apiClient) getApp(ctx context.Context, name string) (*client.App, error) {
	return expect[client.App](c)(c.c.GetApp(ctx, name, nil))
}

// findApp is getApp with nil (no error) for an absent app.
func (c *apiClient) findApp(ctx context.Context, name string) (*client.App, error) {
	app, err := c.getApp(ctx, name)
	if isStatus(err, http.StatusNotFound) {
		return nil, nil
	}
	return app, err
}

func (c *apiClient) listApps(ctx context.Context) ([]client.App, error) {
	var all []client.App
	limit := 500
	var cursor *string
	for {
		page, err := expect[client.AppList](c)(c.c.ListApps(ctx, &client.ListAppsParams{Limit: &limit, Cursor: cursor}))
		if err != nil {
			return nil, err
		}
		all = append(all, page.Items...)
		if page.NextCursor == "" {
			return all, nil
		}
		next := page.NextCursor
		cursor = &next
	}
}

// listPlans returns every active plan, cheapest first, page after page.
func (c *apiClient) listPlans(ctx context.Context) (*client.PlanList, error) {
	all := &client.PlanList{Items: []client.Plan{}}
	limit := 500
	var cursor *string
	for {
		page, err := expect[client.PlanList](c)(c.c.ListPlans(ctx, &client.ListPlansParams{Limit: &limit, Cursor: cursor}))
		if err != nil {
			return nil, err
		}
		all.Items = append(all.Items, page.Items...)
		if page.NextCursor == "" {
			return all, nil
		}
		next := page.NextCursor
		cursor = &next
	}
}

// listDeployments returns up to limit releases, newest first.
func (c *apiClient) listDeployments(ctx context.Context, app string, limit int) ([]client.Deployment, error) {
	var all []client.Deployment
	var cursor *string
	for len(all) < limit {
		n := min(limit-len(all), 500)
		page, err := expect[client.DeploymentList](c)(c.c.ListDeployments(ctx, app, &client.ListDeploymentsParams{Limit: &n, Cursor: cursor}))
		if err != nil {
			return nil, err
		}
		all = append(all, page.Items...)
		if page.NextCursor == "" {
			break
		}
		next := page.NextCursor
		cursor = &next
	}
	return all, nil
}

// listEvents returns up to limit events, newest first.
func (c *apiClient) listEvents(ctx context.Context, app string, limit int) ([]client.Event, error) {
	n := min(max(limit, 1), 500)
	page, err := expect[client.EventList](c)(c.c.ListAppEvents(ctx, app, &client.ListAppEventsParams{Limit: &n}))
	if err != nil {
		return nil, err
	}
	return page.Items, nil
}

// condition finds a condition by type.
func condition(app *client.App, typ string) *client.Condition {
	for i := range app.Status.Conditions {
		if app.Status.Conditions[i].Type == typ {
			return &app.Status.Conditions[i]
		}
	}
	return nil
}

// --- get -----------------------------------------------------------------

func (a *app) getCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "get",
		Short: "List apps, releases or plans",
		Example: `  paasctl get apps
  paasctl get apps -w
  paasctl get app web -o yaml
  paasctl get deployments web
  paasctl get plans`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(a.getAppsCmd(), a.getDeploymentsCmd(), a.getPlansCmd())
	return cmd
}

func (a *app) getAppsCmd() *cobra.Command {
	var watch bool
	cmd := &cobra.Command{
		Use:     "apps [NAME...]",
		Aliases: []string{"app"},
		Short:   "List apps with their phase, ready replicas and current release",
		Long: `get apps lists the organization's apps (or the named ones). With -w it keeps
running and prints a row each time an app's phase, ready replicas, release or
image changes, as the platform reports it (Server-Sent Events from
/api/paas/watch; the stream resumes after a disconnect).`,
		Example: `  paasctl get apps
  paasctl get apps web api
  paasctl get apps -w
  paasctl get app web -o json`,
		ValidArgsFunction: a.completeApps,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			f, _ := a.format()
			if watch {
				return a.watchApps(cmd.Context(), c, args, f)
			}
			var apps []client.App
			if len(args) == 0 {
				if apps, err = c.listApps(cmd.Context()); err != nil {
					return err
				}
			} else {
				for _, n := range args {
					app, err := c.getApp(cmd.Context(), n)
					if err != nil {
						return err
					}
					apps = append(apps, *app)
				}
			}
			if f != output.FormatTable {
				if len(args) == 1 {
					return output.Write(a.Out, f, apps[0])
				}
				return output.Write(a.Out, f, map[string]any{"items": orEmpty(apps)})
			}
			if len(apps) == 0 {
				fmt.Fprintln(a.Err, "No apps yet: declare one in a file and `paasctl apply -f FILE`.")
				return nil
			}
			t := output.NewTable(appColumns...)
			for i := range apps {
				t.Row(a.appRow(&apps[i])...)
			}
			return t.Write(a.Out)
		},
	}
	cmd.Flags().BoolVarP(&watch, "watch", "w", false, "keep printing status changes until interrupted")
	return cmd
}

func orEmpty[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

var appColumns = []string{"NAME", "PHASE", "READY", "RELEASE", "IMAGE", "AGE"}

// appRow renders an app's table row.
func (a *app) appRow(app *client.App) []string {
	cl := a.colors()
	return []string{app.Name, cl.Phase(app.Status.Phase), ready(app), release(app), app.Spec.Image, output.Age(app.CreatedAt, a.now())}
}

func ready(app *client.App) string {
	return fmt.Sprintf("%d/%d", app.Status.RunningReplicas, app.Status.DesiredReplicas)
}

func release(app *client.App) string {
	if d := app.Status.CurrentDeployment; d != nil {
		return strconv.Itoa(d.Version)
	}
	return "-"
}

// watchApps prints app status transitions from the watch stream.
func (a *app) watchApps(ctx context.Context, c *apiClient, names []string, f output.Format) error {
	filter := ""
	if len(names) == 1 {
		filter = names[0]
	}
	wanted := func(name string) bool { return len(names) == 0 || slices.Contains(names, name) }
	var widths []int
	var pending []*client.App
	synced := false
	last := map[string]string{}
	printRow := func(cells []string) {
		for i := range cells {
			if i < len(widths) {
				widths[i] = max(widths[i], output.VisibleWidth(cells[i]))
			}
		}
		fmt.Fprintln(a.Out, output.FormatRow(widths, cells))
	}
	flush := func() {
		t := output.NewTable(appColumns...)
		for _, app := range pending {
			t.Row(a.appRow(app)...)
		}
		widths = t.Widths()
		// Room for what later rows usually hold, so they stay aligned.
		widths[0] = max(widths[0], 12)
		widths[1] = max(widths[1], len("Deploying"))
		widths[2] = max(widths[2], len("10/10"))
		widths[4] = max(widths[4], 24)
		fmt.Fprintln(a.Out, output.FormatRow(widths, appColumns))
		for _, app := range pending {
			printRow(a.appRow(app))
		}
		pending = nil
	}
	return c.watch(ctx, filter, func(ev sse.Event, app *client.App, gone *client.DeletedApp) error {
		switch {
		case ev.Name == "reset":
			// The server could not resume: what follows is the whole list.
			if f != output.FormatTable {
				return output.WriteLine(a.Out, map[string]any{"type": "reset"})
			}
			clear(last)
		case ev.Name == "synced":
			if f == output.FormatTable && !synced {
				flush()
			}
			synced = true
		case app != nil && wanted(app.Name):
			if f != output.FormatTable {
				return output.WriteLine(a.Out, map[string]any{"type": "app", "object": app})
			}
			key := strings.Join([]string{app.Status.Phase, ready(app), release(app), app.Spec.Image}, "\x00")
			if last[app.Name] == key {
				return nil
			}
			last[app.Name] = key
			if !synced {
				pending = append(pending, app)
				return nil
			}
			printRow(a.appRow(app))
		case gone != nil && wanted(gone.Name):
			if f != output.FormatTable {
				return output.WriteLine(a.Out, map[string]any{"type": "deleted", "object": gone})
			}
			delete(last, gone.Name)
			if synced {
				printRow([]string{gone.Name, a.colors().Phase("Deleted"), "-", "-", "-", "-"})
			}
		}
		return nil
	})
}

// watch follows /api/paas/watch, calling fn for each message; it resumes
// with Last-Event-ID after a broken connection and returns when ctx ends
// or fn fails.
func (c *apiClient) watch(ctx context.Context, app string, fn func(ev sse.Event, app *client.App, gone *client.DeletedApp) error) error {
	lastID := ""
	backoff := 250 * time.Millisecond
	connected := false
	for {
		params := &client.WatchAppsParams{}
		if app != "" {
			params.App = &app
		}
		if lastID != "" {
			params.LastEventID = &lastID
		}
		resp, err := c.openStream(c.stream.WatchApps(ctx, params, header("Accept", "text/event-stream")))
		if err != nil {
			var p *problemError
			if errors.As(err, &p) || ctx.Err() != nil || !connected {
				return err
			}
		} else {
			connected = true
			backoff = 250 * time.Millisecond
			err = readEvents(resp.Body, func(ev sse.Event) error {
				if ev.ID != "" {
					lastID = ev.ID
				}
				switch ev.Name {
				case "app":
					var a client.App
					if jerr := jsonUnmarshal(ev.Data, &a); jerr != nil {
						return nil
					}
					return fn(ev, &a, nil)
				case "deleted":
					var d client.DeletedApp
					if jerr := jsonUnmarshal(ev.Data, &d); jerr != nil {
						return nil
					}
					return fn(ev, nil, &d)
				default:
					return fn(ev, nil, nil)
				}
			})
			resp.Body.Close()
			if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) && ctx.Err() == nil {
				var se streamError
				if !errors.As(err, &se) {
					return err
				}
			}
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 5*time.Second)
	}
}

// streamError is a broken stream (worth reconnecting), as opposed to an
// error returned by a callback.
type streamError struct{ err error }

func (e streamError) Error() string { return e.err.Error() }
func (e streamError) Unwrap() error { return e.err }

// readEvents reads SSE messages until the stream ends (nil) or breaks
// (streamError), the server ends it for good (event end: its problem, so
// the caller does not reconnect with a credential that no longer works),
// or fn fails (its error).
func readEvents(r io.Reader, fn func(sse.Event) error) error {
	rd := sse.NewReader(r)
	for {
		ev, err := rd.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return streamError{err}
		}
		if ev.Name == "end" {
			return endProblem(ev.Data)
		}
		if err := fn(ev); err != nil {
			return err
		}
	}
}

// endProblem is the problem of an event end by which the server ended a
// stream for good.
func endProblem(data string) error {
	p := &problemError{}
	if jsonUnmarshal(data, p) != nil || p.Title == "" {
		p = &problemError{Title: "Stream ended", Detail: "the server ended the stream"}
	}
	p.hint = "log in again or ask for a new token"
	return p
}

func (a *app) getDeploymentsCmd() *cobra.Command {
	var limit int
	cmd := &cobra.Command{
		Use:     "deployments NAME",
		Aliases: []string{"deployment", "deploys", "releases", "release"},
		Short:   "List an app's releases, newest first",
		Long: `get deployments lists the releases of an app: each change of its image,
command, port, plan, health check or env cuts one. CURRENT marks the release
the platform keeps running (a failed release leaves the previous one serving).`,
		Example: `  paasctl get deployments web
  paasctl get releases web --limit 5 -o yaml`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: a.completeApps,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			app, err := c.getApp(ctx, args[0])
			if err != nil {
				return err
			}
			ds, err := c.listDeployments(ctx, args[0], limit)
			if err != nil {
				return err
			}
			if f, _ := a.format(); f != output.FormatTable {
				return output.Write(a.Out, f, map[string]any{"items": orEmpty(ds)})
			}
			if len(ds) == 0 {
				fmt.Fprintf(a.Err, "%s has no release yet.\n", app.Name)
				return nil
			}
			a.deploymentsTable(app, ds).Write(a.Out)
			return nil
		},
	}
	cmd.Flags().IntVar(&limit, "limit", 20, "at most this many releases")
	return cmd
}

func (a *app) deploymentsTable(app *client.App, ds []client.Deployment) *output.Table {
	cl := a.colors()
	t := output.NewTable("CURRENT", "VERSION", "STATUS", "IMAGE", "AGE", "MESSAGE")
	for _, d := range ds {
		cur := ""
		if app.Status.CurrentDeployment != nil && app.Status.CurrentDeployment.Version == d.Version {
			cur = "*"
		}
		msg := d.Message
		if d.RollbackOf != nil && !strings.Contains(msg, "rollback") {
			msg = strings.TrimSpace(fmt.Sprintf("rollback to %d. %s", *d.RollbackOf, msg))
		}
		image := d.Image
		if b := d.Build; b != nil { // a pinned digest says less than where it came from
			image = fmt.Sprintf("build %d: %s at %.12s", b.Number, b.Ref, b.CommitSha)
			if strings.HasPrefix(b.CommitSha, b.Ref) { // built from a sha (a push webhook's)
				image = fmt.Sprintf("build %d at %.12s", b.Number, b.CommitSha)
			}
		}
		t.Row(cur, strconv.Itoa(d.Version), cl.Phase(string(d.Status)), image, output.Age(d.CreatedAt, a.now()), output.Truncate(output.OneLine(msg), 100))
	}
	return t
}

func (a *app) getPlansCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "plans",
		Aliases: []string{"plan"},
		Short:   "List the plans apps can use, cheapest first",
		Example: "  paasctl get plans",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			pl, err := c.listPlans(cmd.Context())
			if err != nil {
				return err
			}
			if f, _ := a.format(); f != output.FormatTable {
				return output.Write(a.Out, f, pl)
			}
			t := output.NewTable("NAME", "DISPLAY NAME", "CPU", "MEMORY", "MAX REPLICAS", "PRICE/HOUR")
			for _, p := range pl.Items {
				t.Row(p.Name, p.DisplayName, fmt.Sprintf("%gm", float64(p.CpuMillis)), fmt.Sprintf("%dMiB", p.MemoryMb),
					strconv.Itoa(p.MaxReplicas), money(p.PriceHourlyMicros))
			}
			return t.Write(a.Out)
		},
	}
}

// money renders micro-units as a decimal amount.
func money(micros int64) string {
	s := strconv.FormatFloat(float64(micros)/1e6, 'f', 6, 64)
	s = strings.TrimRight(s, "0")
	if strings.HasSuffix(s, ".") {
		s += "00"
	} else if i := strings.IndexByte(s, '.'); i >= 0 && len(s)-i-1 < 2 {
		s += "0"
	}
	return s
}

// --- describe --------------------------------------------------------------

func (a *app) describeCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "describe",
		Short: "Show everything about an app",
		Example: `  paasctl describe app web
  paasctl describe app web -o yaml`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	var events int
	app := &cobra.Command{
		Use:     "app NAME",
		Aliases: []string{"apps"},
		Short:   "Spec, conditions, replicas, releases, domains and recent events of an app",
		Example: `  paasctl describe app web
  paasctl describe app web --events 30`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: a.completeApps,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			app, err := c.getApp(ctx, args[0])
			if err != nil {
				return err
			}
			ds, err := c.listDeployments(ctx, args[0], 5)
			if err != nil {
				return err
			}
			evs, err := c.listEvents(ctx, args[0], events)
			if err != nil {
				return err
			}
			if f, _ := a.format(); f != output.FormatTable {
				return output.Write(a.Out, f, map[string]any{"app": app, "deployments": orEmpty(ds), "events": orEmpty(evs)})
			}
			a.describe(a.Out, app, ds, evs)
			return nil
		},
	}
	app.Flags().IntVar(&events, "events", 10, "how many of the latest events to show")
	cmd.AddCommand(app)
	return cmd
}

func (a *app) describe(w io.Writer, app *client.App, ds []client.Deployment, evs []client.Event) {
	cl := a.colors()
	now := a.now()
	kv := output.NewTable("", "")
	s := app.Spec
	kv.Row("Name:", cl.Bold(app.Name))
	kv.Row("ID:", app.Id.String())
	kv.Row("Created:", fmt.Sprintf("%s (%s ago)", app.CreatedAt.Local().Format(time.RFC3339), output.Age(app.CreatedAt, now)))
	if app.DeletedAt != nil {
		kv.Row("Deleting since:", fmt.Sprintf("%s (%s ago)", app.DeletedAt.Local().Format(time.RFC3339), output.Age(*app.DeletedAt, now)))
	}
	kv.Row("Phase:", cl.Phase(app.Status.Phase))
	if app.Status.Message != "" {
		kv.Row("Message:", app.Status.Message)
	}
	if s.Image == "" {
		kv.Row("Image:", "(none yet: built from source, no build has succeeded)")
	} else {
		kv.Row("Image:", s.Image)
	}
	state := ""
	if s.Stopped {
		state = ", stopped"
	}
	kv.Row("Replicas:", fmt.Sprintf("%d running / %d desired (spec: %d%s)", app.Status.RunningReplicas, app.Status.DesiredReplicas, s.Replicas, state))
	kv.Row("Port:", strconv.Itoa(s.Port))
	kv.Row("Plan:", s.Plan)
	cmdText := "(the image's)"
	if len(s.Command) > 0 {
		cmdText = strings.Join(quoteAll(s.Command), " ")
	}
	kv.Row("Command:", cmdText)
	kv.Row("Health check:", manifest.ShowClientHealthCheck(s.HealthCheck))
	envKeys := make([]string, 0, len(s.Env))
	for k := range s.Env {
		envKeys = append(envKeys, k)
	}
	slices.Sort(envKeys)
	envText := "(none)"
	if len(envKeys) > 0 {
		envText = strings.Join(envKeys, ", ") + cl.Faint("   (values: paasctl env list "+app.Name+")")
	}
	kv.Row("Env:", envText)
	domains := "(none)"
	if len(app.Status.Urls) > 0 {
		domains = strings.Join(app.Status.Urls, ", ")
	}
	kv.Row("Domains:", domains)
	kv.Row("Generation:", fmt.Sprintf("%d (observed %d)", app.Status.Generation, app.Status.ObservedGeneration))
	if d := app.Status.CurrentDeployment; d != nil {
		kv.Row("Current release:", fmt.Sprintf("%d, %s, %s", d.Version, cl.Phase(d.Status), d.Image))
	} else {
		kv.Row("Current release:", "(none yet)")
	}
	writeRows(w, kv)

	fmt.Fprintln(w, "\nConditions:")
	if len(app.Status.Conditions) == 0 {
		fmt.Fprintln(w, "  (none reported yet)")
	} else {
		t := output.NewTable("TYPE", "STATUS", "REASON", "AGE", "MESSAGE")
		for _, c := range app.Status.Conditions {
			status := string(c.Status)
			if (c.Type == "Degraded" || c.Type == "Suspended") && c.Status == client.True {
				status = cl.Red(status)
			} else if c.Type == "Ready" && c.Status == client.True {
				status = cl.Green(status)
			}
			t.Row(c.Type, status, c.Reason, output.Age(c.LastTransitionTime, now), c.Message)
		}
		indent(w, t)
	}

	fmt.Fprintln(w, "\nReleases:")
	if len(ds) == 0 {
		fmt.Fprintln(w, "  (none yet)")
	} else {
		indent(w, a.deploymentsTable(app, ds))
	}

	fmt.Fprintln(w, "\nEvents:")
	if len(evs) == 0 {
		fmt.Fprintln(w, "  (none)")
	} else {
		indent(w, a.eventsTable(reversed(evs)))
	}
}

func indent(w io.Writer, t *output.Table) {
	var b strings.Builder
	t.Write(&b)
	for _, l := range strings.Split(strings.TrimRight(b.String(), "\n"), "\n") {
		fmt.Fprintln(w, "  "+l)
	}
}

func quoteAll(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		if s == "" || strings.ContainsAny(s, " \t\"'\\$") {
			out[i] = strconv.Quote(s)
		} else {
			out[i] = s
		}
	}
	return out
}

func reversed[T any](s []T) []T {
	out := slices.Clone(s)
	slices.Reverse(out)
	return out
}

// --- events ------------------------------------------------------------------

func (a *app) eventsCmd() *cobra.Command {
	var limit int
	var follow bool
	cmd := &cobra.Command{
		Use:   "events NAME",
		Short: "What the platform did with an app, oldest first",
		Long: `events lists what the reconcilers did with an app and why (created its
service, reverted drift, a rollout failed...). Repeats are counted, not
duplicated. With -w it keeps printing new events and repeats as they happen.`,
		Example: `  paasctl events web
  paasctl events web --limit 100
  paasctl events web -w`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: a.completeApps,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			f, _ := a.format()
			if follow {
				return a.followEvents(cmd.Context(), c, args[0], f)
			}
			evs, err := c.listEvents(cmd.Context(), args[0], limit)
			if err != nil {
				return err
			}
			if f != output.FormatTable {
				return output.Write(a.Out, f, map[string]any{"items": orEmpty(evs)})
			}
			if len(evs) == 0 {
				fmt.Fprintf(a.Err, "No events for %s yet.\n", args[0])
				return nil
			}
			return a.eventsTable(reversed(evs)).Write(a.Out)
		},
	}
	cmd.Flags().IntVarP(&limit, "limit", "n", 50, "at most this many of the latest events (up to 500)")
	cmd.Flags().BoolVarP(&follow, "watch", "w", false, "keep printing events as they happen")
	return cmd
}

var eventColumns = []string{"LAST SEEN", "TYPE", "REASON", "COUNT", "FROM", "MESSAGE"}

func (a *app) eventRow(e client.Event) []string {
	cl := a.colors()
	typ := string(e.Type)
	if e.Type == client.Warning {
		typ = cl.Red(typ)
	}
	return []string{output.Age(e.LastTimestamp, a.now()), typ, e.Reason, strconv.Itoa(e.Count), e.ReportingController, output.OneLine(e.Message)}
}

func (a *app) eventsTable(evs []client.Event) *output.Table {
	t := output.NewTable(eventColumns...)
	for _, e := range evs {
		t.Row(a.eventRow(e)...)
	}
	return t
}

func (a *app) followEvents(ctx context.Context, c *apiClient, name string, f output.Format) error {
	widths := []int{9, 7, 16, 5, 5, 0}
	headerDone := false
	lastID := ""
	connected := false
	for {
		params := &client.ListAppEventsParams{}
		if lastID != "" {
			params.LastEventID = &lastID
		}
		resp, err := c.openStream(c.stream.ListAppEvents(ctx, name, params, header("Accept", "text/event-stream")))
		if err != nil {
			var p *problemError
			if errors.As(err, &p) || ctx.Err() != nil || !connected {
				return err
			}
		} else {
			connected = true
			err = readEvents(resp.Body, func(ev sse.Event) error {
				if ev.ID != "" {
					lastID = ev.ID
				}
				if ev.Name != "event" {
					return nil
				}
				var e client.Event
				if jsonUnmarshal(ev.Data, &e) != nil {
					return nil
				}
				if f != output.FormatTable {
					return output.WriteLine(a.Out, e)
				}
				if !headerDone {
					fmt.Fprintln(a.Out, output.FormatRow(widths, eventColumns))
					headerDone = true
				}
				fmt.Fprintln(a.Out, output.FormatRow(widths, a.eventRow(e)))
				return nil
			})
			resp.Body.Close()
			var se streamError
			if err != nil && !errors.As(err, &se) && ctx.Err() == nil {
				return err
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

// --- logs --------------------------------------------------------------------

func (a *app) logsCmd() *cobra.Command {
	var follow, timestamps bool
	var tail int
	var build int32
	var since, until, grep, level, stream string
	cmd := &cobra.Command{
		Use:   "logs NAME",
		Short: "Print an app's logs (from every replica)",
		Long: `logs prints what the app's replicas wrote to stdout and stderr (stderr lines go
to paasctl's stderr). -f keeps following until interrupted. With LOKI_ENDPOINT
set on paasd, lines come from Loki and outlive the tasks that wrote them;
otherwise from Docker. --grep, --level and --stream filter on the server.
--build N prints build N's output instead (with -f, until the build ends).`,
		Example: `  paasctl logs web
  paasctl logs web --build 3 -f
  paasctl logs web -f
  paasctl logs web -f --since 1h --grep TEXT
  paasctl logs web --tail 20 --since 10m
  paasctl logs web --level error --stream stderr
  paasctl logs web --tail -1 --timestamps`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: a.completeApps,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			if build > 0 {
				return a.buildLogs(cmd.Context(), c, args[0], build, follow)
			}
			params := &client.GetAppLogsParams{}
			if cmd.Flags().Changed("tail") {
				t := strconv.Itoa(tail)
				if tail < 0 {
					t = "all"
				}
				params.Tail = &t
			}
			if since != "" {
				if _, err := time.ParseDuration(since); err != nil {
					if _, err := time.Parse(time.RFC3339, since); err != nil {
						return fmt.Errorf("--since %q: use a duration such as 10m or an RFC 3339 time", since)
					}
				}
				params.Since = &since
			}
			if until != "" {
				if follow {
					return errors.New("--until cannot be combined with -f")
				}
				params.Until = &until
			}
			if grep != "" {
				params.Grep = &grep
			}
			if level != "" {
				l := client.GetAppLogsParamsLevel(level)
				params.Level = &l
			}
			if stream != "" {
				s := client.GetAppLogsParamsStream(stream)
				params.Stream = &s
			}
			if timestamps {
				params.Timestamps = &timestamps
			}
			ctx := cmd.Context()
			if !follow {
				body, err := expectText(c)(c.c.GetAppLogs(ctx, args[0], params))
				if err != nil {
					return err
				}
				_, err = a.Out.Write(body)
				return err
			}
			params.Follow = &follow
			resp, err := c.openStream(c.stream.GetAppLogs(ctx, args[0], params, header("Accept", "text/event-stream")))
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			err = readEvents(resp.Body, func(ev sse.Event) error {
				switch ev.Name {
				case "stdout":
					fmt.Fprintln(a.Out, ev.Data)
				case "stderr":
					fmt.Fprintln(a.Err, ev.Data)
				}
				return nil
			})
			if ctx.Err() != nil {
				return ctx.Err()
			}
			var se streamError
			if errors.As(err, &se) {
				return fmt.Errorf("the log stream broke: %v", se.err)
			}
			return err
		},
	}
	cmd.Flags().BoolVarP(&follow, "follow", "f", false, "keep printing new lines")
	cmd.Flags().IntVar(&tail, "tail", 100, "lines from the end of the log; -1 for all")
	cmd.Flags().StringVar(&since, "since", "", "only lines newer than a duration (10m, 2h) or an RFC 3339 time")
	cmd.Flags().StringVar(&until, "until", "", "only lines older than a duration ago or an RFC 3339 time")
	cmd.Flags().StringVar(&grep, "grep", "", "only lines holding this text (case-sensitive)")
	cmd.Flags().StringVar(&level, "level", "", "only lines of this level or above: debug, info, warn or error")
	cmd.Flags().StringVar(&stream, "stream", "", "only stdout or stderr")
	cmd.Flags().BoolVar(&timestamps, "timestamps", false, "prefix each line with its time")
	cmd.Flags().Int32Var(&build, "build", 0, "print the output of this build (its number) instead")
	return cmd
}

// buildLogs prints a build's log; with follow, it follows the log over
// SSE until the build ends, prints the outcome to stderr, and fails
// (exit 1) unless the build succeeded. A stream that breaks is resumed
// where it was (Last-Event-ID: the log's byte offset), a few times.
func (a *app) buildLogs(ctx context.Context, c *apiClient, name string, number int32, follow bool) error {
	if !follow {
		body, err := expectText(c)(c.c.GetBuildLogs(ctx, name, number, nil))
		if err != nil {
			return err
		}
		_, err = a.Out.Write(body)
		return err
	}
	var last string // the id of the last message: the offset printed up to
	for retries := 0; ; retries++ {
		params := &client.GetBuildLogsParams{}
		if last != "" {
			params.LastEventID = &last
		}
		resp, err := c.openStream(c.stream.GetBuildLogs(ctx, name, number, params, header("Accept", "text/event-stream")))
		if err != nil {
			return err
		}
		var final *client.Build
		err = readBuildLog(resp.Body, func(ev sse.Event) error {
			switch ev.Name {
			case "log":
				if _, err := io.WriteString(a.Out, ev.Data); err != nil {
					return err
				}
			case "truncated":
				var t struct {
					DroppedBytes int64 `json:"dropped_bytes"`
				}
				_ = jsonUnmarshal(ev.Data, &t)
				fmt.Fprintf(a.Err, "[%d bytes of output skipped: the server keeps the last build_log_max_bytes of a log]\n", t.DroppedBytes)
			case "end":
				var b client.Build
				if err := jsonUnmarshal(ev.Data, &b); err != nil {
					return streamError{fmt.Errorf("the build's end event: %w", err)}
				}
				final = &b
			}
			if ev.ID != "" {
				last = ev.ID
			}
			return nil
		})
		resp.Body.Close()
		if final != nil {
			msg := fmt.Sprintf("build %d %s", number, final.Status)
			if final.Message != "" {
				msg += ": " + final.Message
			}
			if final.Status == "succeeded" {
				fmt.Fprintln(a.Err, msg)
				return nil
			}
			return &exitError{code: exitError1, msg: msg}
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		var se streamError
		if err == nil {
			err = streamError{errors.New("the server closed the stream before the build ended")}
		}
		if !errors.As(err, &se) || retries >= 3 {
			if errors.As(err, &se) {
				return fmt.Errorf("the build log stream broke: %v", se.err)
			}
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

// readBuildLog reads a build log stream as readEvents does, except that
// its event end carries either the build (it ended: passed to fn) or a
// problem (the server ended the stream: returned).
func readBuildLog(r io.Reader, fn func(sse.Event) error) error {
	rd := sse.NewReader(r)
	for {
		ev, err := rd.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return streamError{err}
		}
		if ev.Name == "end" {
			var probe struct {
				Title string `json:"title"`
			}
			if jsonUnmarshal(ev.Data, &probe) != nil || probe.Title != "" {
				return endProblem(ev.Data)
			}
		}
		if err := fn(ev); err != nil {
			return err
		}
		if ev.Name == "end" {
			return nil
		}
	}
}

// completeApps completes app names (for the first argument).
func (a *app) completeApps(cmd *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
	if err := a.loadConfig(); err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	c, err := a.client()
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	ctx, cancel := context.WithTimeout(cmd.Context(), 3*time.Second)
	defer cancel()
	apps, err := c.listApps(ctx)
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	out := make([]string, 0, len(apps))
	for _, app := range apps {
		if !slices.Contains(args, app.Name) {
			out = append(out, app.Name+"\t"+app.Status.Phase)
		}
	}
	return out, cobra.ShellCompDirectiveNoFileComp
}

func jsonUnmarshal(s string, v any) error { return json.Unmarshal([]byte(s), v) }
