package cli

import (
	"context"
	"fmt"
	"slices"
	"strconv"

	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"

	"github.com/skypanel/paas/api/client"
	"github.com/skypanel/paas/cmd/paasctl/internal/output"
)

// topRow is one app's current usage.
type topRow struct {
	Name     string   `json:"name"`
	Phase    string   `json:"phase"`
	CPU      *float64 `json:"cpu_cores"`
	Memory   *float64 `json:"memory_bytes"`
	Restarts *float64 `json:"restarts"`
}

func (a *app) topCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "top [NAME...]",
		Short: "Show current CPU and memory per app",
		Long: `top shows each app's CPU (cores), memory (working set) and tasks ended in the
last minutes, the newest point of GET /api/paas/apps/{app}/metrics (answered
from Prometheus: paasd needs VITE_PROMETHEUS_URL). "-" means no data yet.`,
		Example: `  paasctl top
  paasctl top web api
  paasctl top -o json`,
		ValidArgsFunction: a.completeApps,
		RunE: func(cmd *cobra.Command, args []string) error {
			f, err := a.format()
			if err != nil {
				return err
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			apps, err := c.listApps(ctx)
			if err != nil {
				return err
			}
			var rows []topRow
			for _, app := range apps {
				if len(args) == 0 || slices.Contains(args, app.Name) {
					rows = append(rows, topRow{Name: app.Name, Phase: app.Status.Phase})
				}
			}
			if len(args) > 0 && len(rows) < len(args) {
				for _, n := range args {
					found := false
					for _, r := range rows {
						found = found || r.Name == n
					}
					if !found {
						return fmt.Errorf("app %q not found", n)
					}
				}
			}
			g, gctx := errgroup.WithContext(ctx)
			g.SetLimit(8)
			for i := range rows {
				g.Go(func() error { return c.fillTop(gctx, &rows[i]) })
			}
			if err := g.Wait(); err != nil {
				return err
			}
			if f != output.FormatTable {
				return output.Write(a.Out, f, map[string]any{"items": orEmpty(rows)})
			}
			t := output.NewTable("NAME", "PHASE", "CPU", "MEMORY", "RESTARTS")
			cl := a.colors()
			for _, r := range rows {
				t.Row(r.Name, cl.Phase(r.Phase), orDash(r.CPU, func(v float64) string { return strconv.FormatFloat(v*1000, 'f', 0, 64) + "m" }),
					orDash(r.Memory, humanBytes), orDash(r.Restarts, func(v float64) string { return strconv.FormatFloat(v, 'f', 0, 64) }))
			}
			return t.Write(a.Out)
		},
	}
	return cmd
}

// fillTop reads the newest point of each series of one app.
func (c *apiClient) fillTop(ctx context.Context, r *topRow) error {
	rng, step := "5m", "60s"
	m, err := expect[client.AppMetrics](c)(c.c.GetAppMetrics(ctx, r.Name, &client.GetAppMetricsParams{Range: &rng, Step: &step}))
	if err != nil {
		return err
	}
	for _, s := range m.Series {
		if len(s.Points) == 0 {
			continue
		}
		v := s.Points[len(s.Points)-1].V
		switch s.Name {
		case client.Cpu:
			r.CPU = &v
		case client.Memory:
			r.Memory = &v
		case client.Restarts:
			r.Restarts = &v
		}
	}
	return nil
}

func orDash(v *float64, f func(float64) string) string {
	if v == nil {
		return "-"
	}
	return f(*v)
}

// humanBytes writes a byte count in binary units (12Mi).
func humanBytes(v float64) string {
	units := []string{"", "Ki", "Mi", "Gi", "Ti"}
	i := 0
	for v >= 1024 && i < len(units)-1 {
		v /= 1024
		i++
	}
	if i == 0 {
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
	return strconv.FormatFloat(v, 'f', 1, 64) + units[i]
}
