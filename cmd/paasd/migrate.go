package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/skypanel/paas/cmd/paasd/internal/config"
	"github.com/skypanel/paas/store"
)

func newMigrateCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "migrate",
		Short:   "Apply pending database migrations (idempotent)",
		Long:    "migrate applies the schema migrations embedded in paasd to DATABASE_URL.\nA second run applies nothing; concurrent runs are serialised by a Postgres lock.",
		Example: `  DATABASE_URL=postgres://paas@127.0.0.1:55432/paas paasd migrate`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := config.Load(os.Getenv, config.ForMigrate)
			if err != nil {
				return err
			}
			applied, err := store.Migrate(cmd.Context(), cfg.DatabaseURL)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if len(applied) == 0 {
				fmt.Fprintln(out, "schema is up to date; nothing applied")
				return nil
			}
			for _, m := range applied {
				fmt.Fprintf(out, "applied %05d %s\n", m.Version, m.Source)
			}
			return nil
		},
	}
}
