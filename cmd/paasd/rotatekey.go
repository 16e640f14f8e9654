package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/skypanel/paas/cmd/paasd/internal/config"
	"github.com/skypanel/paas/store"
	"github.com/skypanel/paas/store/rotate"
	"github.com/skypanel/paas/store/secret"
)

func newRotateKeyCmd() *cobra.Command {
	var batch int
	var previousEnv string
	cmd := &cobra.Command{
		Use:   "rotate-key",
		Short: "Re-seal every secret under ENCRYPTION_KEY, opening with the previous keys",
		Long: `rotate-key re-seals every env value, every release's env snapshot and every
sensitive setting under ENCRYPTION_KEY, opening them with ENCRYPTION_KEY or one
of the previous keys (ENCRYPTION_KEY_PREVIOUS, comma-separated; --previous-env
names another variable). Values sealed before the current format are upgraded.

It works in batches, one transaction each, and skips values already sealed
under ENCRYPTION_KEY: run it again after an interruption to finish. No app
gets a new release. It prints counts and key ids, never a value.
See docs/secrets.md ("Rotating ENCRYPTION_KEY") for the whole procedure.`,
		Example: `  ENCRYPTION_KEY=$(cat new.key) ENCRYPTION_KEY_PREVIOUS=$(cat old.key) paasd rotate-key`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := config.Load(os.Getenv, config.ForRotateKey)
			if err != nil {
				return err
			}
			previous := cfg.EncryptionKeyPrevious
			if previousEnv != "ENCRYPTION_KEY_PREVIOUS" {
				if previous, err = secret.ParseKeys(os.Getenv(previousEnv)); err != nil {
					return fmt.Errorf("%s: %w", previousEnv, err)
				}
			}
			box, err := secret.NewBox(cfg.EncryptionKey, previous...)
			if err != nil {
				return err
			}
			s, err := store.Open(cmd.Context(), cfg.DatabaseURL)
			if err != nil {
				return err
			}
			defer s.Close()
			out := cmd.OutOrStdout()
			var old []string
			for _, k := range previous {
				old = append(old, secret.KeyID(k))
			}
			fmt.Fprintf(out, "re-sealing under key %s; also opening with previous keys [%s]\n", box.KeyID(), strings.Join(old, " "))
			rep, err := rotate.Run(cmd.Context(), s, box, batch, func(kind rotate.Kind, c rotate.Count) {
				fmt.Fprintf(out, "  %s: %d seen, %d re-sealed\n", kind, c.Seen, c.Resealed)
			})
			if err != nil {
				return fmt.Errorf("rotate-key stopped (run it again to finish; done so far: %s): %w", summary(rep), err)
			}
			fmt.Fprintf(out, "done: %s; every secret is sealed under key %s\n", summary(rep), box.KeyID())
			return nil
		},
	}
	cmd.Flags().IntVar(&batch, "batch", 500, "rows re-sealed per transaction")
	cmd.Flags().StringVar(&previousEnv, "previous-env", "ENCRYPTION_KEY_PREVIOUS", "environment variable holding the previous keys, comma-separated (never pass keys as arguments)")
	return cmd
}

// summary prints a report's counts in a fixed order.
func summary(rep rotate.Report) string {
	var parts []string
	for _, k := range []rotate.Kind{rotate.Settings, rotate.EnvVars, rotate.Releases, rotate.WebhookSecrets, rotate.GitCredentials} {
		if c := rep[k]; c != nil {
			parts = append(parts, fmt.Sprintf("%s %d re-sealed of %d", k, c.Resealed, c.Seen))
		}
	}
	return strings.Join(parts, ", ")
}
