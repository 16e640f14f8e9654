package cli

import (
	"errors"
	"fmt"
	"os"
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
with: one per git host (git.example.com, or git.example.com:8443), either a
username and a token, used as HTTP basic auth for http:// and https:// git URLs
of that host, or an SSH deploy key with the host's pinned public key, used for
ssh:// URLs of that host. Tokens and private keys are stored encrypted and
never shown again; list prints hosts, kinds, usernames and the fingerprints of
pinned host keys. Only owners of the organization set or remove them.`,
		Example: `  paasctl git-credentials set github.com --username x-access-token < token.txt
  paasctl git-credentials set git.example.com --ssh-key deploy_key --known-hosts keys.txt
  paasctl git-credentials list
  paasctl git-credentials rm github.com`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(a.gitCredentialsSetCmd(), a.gitCredentialsListCmd(), a.gitCredentialsRmCmd())
	return cmd
}

func (a *app) gitCredentialsSetCmd() *cobra.Command {
	var username, keyFile, knownHostsFile string
	cmd := &cobra.Command{
		Use:   "set HOST (--username USER | --ssh-key FILE --known-hosts FILE)",
		Short: "Set the credential for a git host: a token read from stdin, or an SSH deploy key",
		Long: `set stores the credential builds use for the git host.

With --username, it is a token for http:// and https:// URLs, read from stdin
(prompted for, unechoed, on a terminal), never taken as an argument, so it
stays out of shell history and process lists.

With --ssh-key, it is an SSH deploy key for ssh:// URLs: FILE is the private
key without a passphrase (ssh-keygen -t ed25519 -N '' -f deploy_key), and
--known-hosts FILE the host's public key line(s) builds accept, as
ssh-keyscan HOST prints them (or a bare "ssh-ed25519 AAAA..." line); a host
presenting any other key is refused. --username is the SSH user (default
git). set prints the key's public half: add it to the repository's deploy
keys.`,
		Example: `  paasctl git-credentials set gitlab.example.com --username oauth2 < token.txt
  echo "$GITHUB_TOKEN" | paasctl git-credentials set github.com --username x-access-token
  ssh-keyscan -t ed25519 git.example.com > git.example.com.keys
  paasctl git-credentials set git.example.com --ssh-key ./deploy_key --known-hosts git.example.com.keys`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var req client.GitCredentialRequest
			if keyFile != "" || knownHostsFile != "" {
				if keyFile == "" || knownHostsFile == "" {
					return errors.New("an SSH credential needs both --ssh-key FILE (the private key) and --known-hosts FILE (the host's public key lines, as ssh-keyscan HOST prints them)")
				}
				key, err := os.ReadFile(keyFile)
				if err != nil {
					return fmt.Errorf("read the SSH key: %w", err)
				}
				kh, err := os.ReadFile(knownHostsFile)
				if err != nil {
					return fmt.Errorf("read the known hosts: %w", err)
				}
				k, h := string(key), string(kh)
				req.SshPrivateKey, req.KnownHosts = &k, &h
				if username != "" {
					req.Username = &username
				}
			} else {
				if username == "" {
					return errors.New("--username is required with a token (many hosts take any name with a token: oauth2, x-access-token); or give --ssh-key and --known-hosts for an SSH deploy key")
				}
				token, err := a.prompt(cmd.Context(), "Token: ", true)
				if err != nil {
					return err
				}
				if token = strings.TrimSpace(token); token == "" {
					return errors.New("no token: give it on stdin")
				}
				req.Username, req.Token = &username, &token
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			cred, err := expect[client.GitCredential](c)(c.c.PutGitCredential(cmd.Context(), args[0], nil, req))
			if err != nil {
				return err
			}
			if f, _ := a.format(); f != output.FormatTable {
				return output.Write(a.Out, f, cred)
			}
			if cred.Kind == client.Ssh && cred.PublicKey != nil {
				fps := ""
				if cred.HostKeyFingerprints != nil {
					fps = strings.Join(*cred.HostKeyFingerprints, ", ")
				}
				fmt.Fprintf(a.Out, "git-credential/%s set (ssh key, username %s, host key %s)\nAdd this public key to the repository's deploy keys:\n%s\n", cred.Host, cred.Username, fps, *cred.PublicKey)
				return nil
			}
			fmt.Fprintf(a.Out, "git-credential/%s set (username %s)\n", cred.Host, cred.Username)
			return nil
		},
	}
	cmd.Flags().StringVar(&username, "username", "", "the HTTP basic auth user the token goes with, or the SSH user (default git)")
	cmd.Flags().StringVar(&keyFile, "ssh-key", "", "file of an SSH private key without passphrase: the credential is a deploy key for ssh:// URLs")
	cmd.Flags().StringVar(&knownHostsFile, "known-hosts", "", "file of the host's public key line(s) to pin (ssh-keyscan HOST), with --ssh-key")
	return cmd
}

func (a *app) gitCredentialsListCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "Print the organization's git hosts, kinds, usernames and pinned host keys (never tokens or private keys)",
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
			t := output.NewTable("HOST", "KIND", "USERNAME", "HOST KEY", "UPDATED")
			for _, g := range l.Items {
				hostKey := "-"
				if g.HostKeyFingerprints != nil && len(*g.HostKeyFingerprints) > 0 {
					hostKey = strings.Join(*g.HostKeyFingerprints, ",")
				}
				t.Row(g.Host, string(g.Kind), g.Username, hostKey, output.Age(g.UpdatedAt, a.now())+" ago")
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
