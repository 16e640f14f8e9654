package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/skypanel/paas/cmd/paasd/internal/config"
	"github.com/skypanel/paas/store"
)

func newSeedAdminCmd() *cobra.Command {
	var email, password string
	cmd := &cobra.Command{
		Use:   "seed-admin",
		Short: "Create the platform administrator and its organization (idempotent)",
		Long: "seed-admin makes sure a platform administrator exists and owns an organization.\n" +
			"Email and password come from flags or from ADMIN_EMAIL and ADMIN_PASSWORD.\n" +
			"An existing user keeps its password; running it again changes nothing.",
		Example: `  paasd seed-admin --email admin@example.com --password 'a long secret'
  ADMIN_EMAIL=admin@example.com ADMIN_PASSWORD='a long secret' paasd seed-admin`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := config.Load(os.Getenv, config.ForSeed)
			if err != nil {
				return err
			}
			if email == "" {
				email = os.Getenv("ADMIN_EMAIL")
			}
			if password == "" {
				password = os.Getenv("ADMIN_PASSWORD")
			}
			if email == "" || password == "" {
				return errors.New("seed-admin needs --email and --password (or ADMIN_EMAIL and ADMIN_PASSWORD)")
			}
			s, err := store.Open(cmd.Context(), cfg.DatabaseURL)
			if err != nil {
				return err
			}
			defer s.Close()
			res, err := s.SeedAdmin(cmd.Context(), email, password)
			if err != nil {
				return err
			}
			verb := "exists"
			if res.Created {
				verb = "created"
			}
			fmt.Fprintf(cmd.OutOrStdout(), "admin %s %s; organization %s\n", res.User.Email, verb, res.Organization.Slug)
			return nil
		},
	}
	cmd.Flags().StringVar(&email, "email", "", "administrator email (default $ADMIN_EMAIL)")
	cmd.Flags().StringVar(&password, "password", "", "administrator password, at least 8 characters (default $ADMIN_PASSWORD)")
	return cmd
}
