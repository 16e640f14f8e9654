// Command paasd is the SkyPanel PaaS control plane: the HTTP API and, on the
// elected leader, the reconcilers that converge Swarm onto the desired state
// stored in Postgres.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := newRootCmd().ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "paasd:", err)
		os.Exit(1)
	}
}

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "paasd",
		Short:         "SkyPanel PaaS control plane",
		Long:          "paasd serves the SkyPanel PaaS API and reconciles the apps declared in Postgres onto Docker Swarm.\nConfiguration comes from the environment; see .env.example.",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newServeCmd(), newMigrateCmd(), newSeedAdminCmd(), newInitCmd(), newRotateKeyCmd(), newBillingCmd(), newVersionCmd())
	return root
}

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print paasd's version",
		Args:  cobra.NoArgs,
		Run: func(cmd *cobra.Command, _ []string) {
			fmt.Fprintln(cmd.OutOrStdout(), "paasd", version)
		},
	}
}
