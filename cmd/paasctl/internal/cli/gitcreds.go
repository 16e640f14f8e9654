package cli

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/skypanel/paas/api/client"
	"github.com/skypanel/paas/cmd/paasctl/internal/output"
)

func (a *app) gitCredentialsCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "git-credentials",
		Aliases: []string{"git-credential", "gitcreds"},
		Short:   "Set, list and remove the organization's git credentials",
		Long: `git-credentials manages the credentials builds clone private repositories
with: one per git host (git.example.com, or git.example.com:8443), a username
and a token, used as HTTP basic auth for http:// and https:// git URLs of that
host. Tokens are stored encrypted and never shown again; list prints hosts and
usernames. Only owners of the organization set or remove them.`,
		Example: `  paasctl git-credentials set github.com --username x-access-token < token.txt
  paasctl git-credentials list
  paasctl git-credentials rm github.com`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(a.gitCredentialsSetCmd(), a.gitCredentialsListCmd(), a.gitCredentialsRmCmd())
	return cmd
}

func (a *app) gitCredentialsSetCmd() *cobra.Command {
	var username string
	cmd := &cobra.Command{
		Use:   "set HOST --username USER",
		Short: "Set the credential for a git host; the token is read from stdin",
		Long: `set stores the credential builds use for the git host. The token is read from
stdin (prompted for, unechoed, on a terminal), never taken as an argument, so
it stays out of shell history and process lists.`,
		Example: `  paasctl git-credentials set gitlab.example.com --username oauth2 < token.txt
  echo "$GITHUB_TOKEN" | paasctl git-credentials set github.com --username x-access-token`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if username == "" {
				return errors.New("--username is required (many hosts take any name with a token: oauth2, x-access-token)")
			}
			token, err := a.prompt(cmd.Context(), "Token: ", true)
			if err != nil {
				return err
			}
			if token = strings.TrimSpace(token); token == "" {
				return errors.New("no token: give it on stdin")
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			cred, err := expect[client.GitCredential](c)(c.c.PutGitCredential(cmd.Context(), args[0], nil,
				client.GitCredentialRequest{Username: username, Token: token}))
			if err != nil {
				return err
			}
			if f, _ := a.format(); f != output.FormatTable {
				return output.Write(a.Out, f, cred)
			}
			fmt.Fprintf(a.Out, "git-credential/%s set (username %s)\n", cred.Host, cred.Username)
			return nil
		},
	}
	cmd.Flags().StringVar(&username, "username", "", "the HTTP basic auth user the token goes with")
	return cmd
}

func (a *app) gitCredentialsListCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "Print the organization's git hosts and usernames (never tokens)",
		Example: `  paasctl git-credentials list
  paasctl git-credentials list -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			l, err := expect[client.GitCredentialList](c)(c.c.ListGitCredentials(cmd.Context(), nil))
			if err != nil {
				return err
			}
			if f, _ := a.format(); f != output.FormatTable {
				return output.Write(a.Out, f, l)
			}
			if len(l.Items) == 0 {
				fmt.Fprintln(a.Err, "No git credentials (paasctl git-credentials set HOST --username USER adds one).")
				return nil
			}
			t := output.NewTable("HOST", "USERNAME", "UPDATED")
			for _, g := range l.Items {
				t.Row(g.Host, g.Username, output.Age(g.UpdatedAt, a.now())+" ago")
			}
			return t.Write(a.Out)
		},
	}
}

func (a *app) gitCredentialsRmCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "rm HOST",
		Aliases: []string{"remove", "delete"},
		Short:   "Remove the credential for a git host",
		Example: `  paasctl git-credentials rm github.com`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			if _, err := c.read(c.c.DeleteGitCredential(cmd.Context(), args[0], nil)); err != nil {
				return err
			}
			fmt.Fprintf(a.Out, "git-credential/%s removed\n", strings.ToLower(args[0]))
			return nil
		},
	}
}
