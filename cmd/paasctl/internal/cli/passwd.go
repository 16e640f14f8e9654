package cli

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/skypanel/paas/api/client"
)

func (a *app) passwdCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "passwd",
		Short: "Change your password; your other sessions and API tokens end",
		Long: `passwd asks for your current password and the new one (twice), and changes it.
Every other login session of yours ends, and every API token but the one
making the request is revoked. When you are logged in with a login token,
paasctl stores the new one the server answers, so this login carries on.

Without a terminal the three answers are read from stdin, one per line.`,
		Example: `  paasctl passwd
  printf '%s\n' "$OLD" "$NEW" "$NEW" | paasctl passwd`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			c, err := a.client()
			if err != nil {
				return err
			}
			answers := make([]string, 3)
			for i, q := range []string{"Current password: ", "New password: ", "New password again: "} {
				if answers[i], err = a.prompt(ctx, q, true); err != nil {
					return err
				}
			}
			if answers[1] != answers[2] {
				return errors.New("the new passwords differ; nothing changed")
			}
			lt, err := expect[client.LoginToken](c)(c.c.ChangePasswordWithBody(ctx, "application/json",
				jsonBody(client.ChangePasswordRequest{CurrentPassword: answers[0], NewPassword: answers[1]})))
			if err != nil {
				return err
			}
			return a.carryOn(c, lt)
		},
	}
}

// carryOn keeps this paasctl logged in after a password change: a stored
// login token has ended, so the new one replaces it; an API token was
// kept by the server.
func (a *app) carryOn(c *apiClient, lt *client.LoginToken) error {
	msg := "Password changed. Your other sessions and API tokens have ended"
	token := a.cfg.Token
	if c.tokenSource == "PAAS_TOKEN" {
		token = a.getenv("PAAS_TOKEN")
	}
	switch {
	case strings.HasPrefix(token, "paas_"):
		fmt.Fprintln(a.Out, msg+"; the API token you used still works.")
	case c.tokenSource == "config":
		exp := lt.ExpiresAt.UTC()
		a.cfg.Token, a.cfg.TokenExpiresAt = lt.Token, &exp
		if err := a.saveConfig(); err != nil {
			return err
		}
		fmt.Fprintln(a.Out, msg+"; this login carries on.")
	default:
		fmt.Fprintln(a.Out, msg+".")
		fmt.Fprintln(a.Err, "note: PAAS_TOKEN holds a login token that has now ended: set it to a new one (paasctl login)")
	}
	return nil
}
