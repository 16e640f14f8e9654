package main

import (
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/skypanel/paas/cmd/paasd/internal/config"
	"github.com/skypanel/paas/store"
	"github.com/skypanel/paas/store/billing"
)

func newBillingCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "billing", Short: "Billing operations (the hourly sweep)", Args: cobra.NoArgs}
	var until string
	sweep := &cobra.Command{
		Use:   "sweep",
		Short: "Charge every complete hour not yet charged (safe to run at any time, twice, or beside the leader's sweep)",
		Long: "sweep charges each app, for every complete hour not yet charged, its metered replica-seconds times its plan's\n" +
			"hourly price, rounded half up once per (app, hour); the ledger reference charge:<app>:<hour> makes a re-run,\n" +
			"a concurrent run or a crash midway harmless. An hour is charged once it ended at least\n" +
			"billing_meter_max_gap_seconds before --until (default now).",
		Example: "  paasd billing sweep\n  paasd billing sweep --until 2026-01-02T00:00:00Z",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := config.Load(os.Getenv, config.ForMigrate)
			if err != nil {
				return err
			}
			at := time.Now()
			if until != "" {
				if at, err = time.Parse(time.RFC3339, until); err != nil {
					return fmt.Errorf("--until: %w (want RFC 3339, e.g. 2026-01-02T00:00:00Z)", err)
				}
			}
			s, err := store.Open(cmd.Context(), cfg.DatabaseURL)
			if err != nil {
				return err
			}
			defer s.Close()
			gap, err := billing.MaxGap(cmd.Context(), s)
			if err != nil {
				return err
			}
			start := time.Now()
			res, err := billing.Sweep(cmd.Context(), s.Pool, at, gap, time.Now)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "charged %d hours: %d charges, %s in total (%s); next hour to charge %s\n",
				res.Hours, res.Charges, billing.Micros(res.TotalMicros), time.Since(start).Round(time.Millisecond), res.Next.Format(time.RFC3339))
			return nil
		},
	}
	sweep.Flags().StringVar(&until, "until", "", "charge the hours complete before this time (RFC 3339; default now)")
	cmd.AddCommand(sweep)
	return cmd
}
