package cli

import (
	"context"
	"fmt"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/skypanel/paas/api/client"
	"github.com/skypanel/paas/cmd/paasctl/internal/output"
)

func (a *app) adminNodesCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "nodes",
		Aliases: []string{"node", "workers"},
		Short:   "Swarm nodes: list, approve, drain, pause, activate, remove; the join command",
		Example: "  paasctl admin nodes list\n  paasctl admin nodes approve worker-3\n  paasctl admin nodes join-command",
		Args:    cobra.NoArgs,
		RunE:    func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(a.adminNodesListCmd(), a.adminNodesJoinCmd(), a.adminNodesRmCmd())
	for _, act := range []struct{ verb, short string }{
		{"approve", "Admit a pending node: the node loop makes it active"},
		{"drain", "Hold a node at drain: its tasks move to other nodes"},
		{"pause", "Hold a node at pause: it keeps its tasks, takes no new ones"},
		{"activate", "Hold a node at active: it takes tasks"},
	} {
		cmd.AddCommand(a.adminNodesActionCmd(act.verb, act.short))
	}
	return cmd
}

func (a *app) adminNodesListCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List the Swarm's nodes, by hostname",
		Example: "  paasctl admin nodes list\n  paasctl admin nodes list -o json",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			nodes, err := c.listNodes(cmd.Context())
			if err != nil {
				return err
			}
			if f, _ := a.format(); f != output.FormatTable {
				return output.Write(a.Out, f, nodes)
			}
			t := output.NewTable("HOSTNAME", "ID", "STATUS", "ROLE", "STATE", "AVAILABILITY", "CPU", "MEMORY", "TASKS", "ALERTS", "AGE")
			for _, n := range nodes {
				t.Row(n.Hostname, shortID(n.SwarmNodeId), n.Status, n.Role, n.State, n.Availability,
					fmt.Sprintf("%d/%dm", n.CpuReservedMillis, n.CpuMillis),
					fmt.Sprintf("%d/%dMi", n.MemoryReservedBytes>>20, n.MemoryBytes>>20),
					strconv.Itoa(n.TasksRunning), firing(n.Alerts), output.Age(n.CreatedAt, a.now()))
			}
			return t.Write(a.Out)
		},
	}
}

func shortID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

func firing(alerts []client.WorkerAlert) string {
	s := ""
	for _, al := range alerts {
		if al.Firing {
			if s != "" {
				s += ","
			}
			s += al.Kind
		}
	}
	if s == "" {
		return "-"
	}
	return s
}

func (a *app) adminNodesActionCmd(verb, short string) *cobra.Command {
	return &cobra.Command{
		Use:     verb + " NODE",
		Short:   short,
		Long:    short + ".\n\nNODE is a hostname, a Swarm node id or the node's id. The node loop applies the change; a change made by hand is put back.",
		Example: fmt.Sprintf("  paasctl admin nodes %s worker-3", verb),
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			n, err := expect[client.Worker](c)(c.c.AdminWorkerAction(cmd.Context(), args[0], verb))
			if err != nil {
				return err
			}
			if f, _ := a.format(); f != output.FormatTable {
				return output.Write(a.Out, f, n)
			}
			fmt.Fprintf(a.Out, "node/%s %s: %s, availability %s (desired %s)\n", n.Hostname, pastTense(verb), n.Status, n.Availability, n.DesiredAvailability)
			return nil
		},
	}
}

func pastTense(verb string) string {
	switch verb {
	case "approve":
		return "approved"
	case "pause":
		return "paused"
	default:
		return verb + "ed"
	}
}

func (a *app) adminNodesRmCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "rm NODE",
		Aliases: []string{"remove", "delete"},
		Short:   "Remove a node: drain it, wait for its tasks to move, take it out of the Swarm",
		Example: "  paasctl admin nodes rm worker-3",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			n, err := expect[client.Worker](c)(c.c.AdminRemoveWorker(cmd.Context(), args[0]))
			if err != nil {
				return err
			}
			if f, _ := a.format(); f != output.FormatTable {
				return output.Write(a.Out, f, n)
			}
			fmt.Fprintf(a.Out, "node/%s removing: draining, then out of the Swarm\n", n.Hostname)
			return nil
		},
	}
}

func (a *app) adminNodesJoinCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "join-command",
		Short:   "Print the command that joins a new worker to the Swarm",
		Example: "  paasctl admin nodes join-command",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			j, err := expect[client.JoinCommand](c)(c.c.AdminWorkerJoinCommand(cmd.Context()))
			if err != nil {
				return err
			}
			if f, _ := a.format(); f != output.FormatTable {
				return output.Write(a.Out, f, j)
			}
			fmt.Fprintf(a.Out, "# on a host with Docker set up:\n%s\n# or, on a fresh Debian/Ubuntu host, from a checkout of this repository:\n%s\n", j.Command, j.SetupCommand)
			return nil
		},
	}
}

// listNodes returns every node, page after page.
func (c *apiClient) listNodes(ctx context.Context) ([]client.Worker, error) {
	var all []client.Worker
	limit := 500
	var cursor *string
	for {
		page, err := expect[client.WorkerList](c)(c.c.AdminListWorkers(ctx, &client.AdminListWorkersParams{Limit: &limit, Cursor: cursor}))
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
