package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/skypanel/paas/api/client"
	"github.com/skypanel/paas/cmd/paasctl/internal/output"
)

// stdinLines reads stdin line by line, shared by every prompt of a run.
func (a *app) stdinLines() *bufio.Reader {
	if a.lines == nil {
		a.lines = bufio.NewReader(a.In)
	}
	return a.lines
}

// readLine reads one line from stdin, giving up when ctx ends.
func (a *app) readLine(ctx context.Context) (string, error) {
	type result struct {
		s   string
		err error
	}
	ch := make(chan result, 1)
	r := a.stdinLines()
	go func() {
		s, err := r.ReadString('\n')
		if errors.Is(err, io.EOF) && s != "" {
			err = nil
		}
		ch <- result{strings.TrimRight(s, "\r\n"), err}
	}()
	select {
	case res := <-ch:
		if errors.Is(res.err, io.EOF) {
			return "", errors.New("no input: stdin ended before the answer")
		}
		return res.s, res.err
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

// prompt asks a question on stderr and reads the answer; secret answers
// are not echoed on a terminal.
func (a *app) prompt(ctx context.Context, question string, secret bool) (string, error) {
	if a.InTTY {
		fmt.Fprint(a.Err, question)
	}
	if secret && a.InTTY {
		restore := echoOff(a.InFd)
		s, err := a.readLine(ctx)
		restore()
		fmt.Fprintln(a.Err)
		return s, err
	}
	return a.readLine(ctx)
}

func (a *app) loginCmd() *cobra.Command {
	var token, email string
	var passwordStdin bool
	cmd := &cobra.Command{
		Use:   "login",
		Short: "Log in to a paasd server and remember it",
		Long: `login asks for your email and password (or takes an API token with --token),
checks them with the server and stores the server URL and the token in
$XDG_CONFIG_HOME/paasctl/config.yaml (mode 0600). A login token lasts 24 hours;
an API token (created through POST /api/auth/tokens) lasts as long as it was
made to. PAAS_SERVER and PAAS_TOKEN override the stored values.`,
		Example: `  paasctl login --server http://127.0.0.1:8080
  paasctl login --server https://paas.example.com --token paas_XXXXXXXX
  echo "$PASSWORD" | paasctl login --server https://paas.example.com --email me@example.com --password-stdin`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			server, err := a.serverURL()
			if err != nil {
				if errors.Is(err, errNoServer) {
					return errors.New("login needs a server: paasctl login --server URL")
				}
				return err
			}
			anon, err := a.newClient(server, "", "", "")
			if err != nil {
				return err
			}
			var expires *time.Time
			if token == "" {
				if email == "" {
					if email, err = a.prompt(ctx, "Email: ", false); err != nil {
						return err
					}
				}
				var password string
				if passwordStdin {
					b, err := io.ReadAll(a.stdinLines())
					if err != nil {
						return err
					}
					password = strings.TrimRight(string(b), "\r\n")
				} else if password, err = a.prompt(ctx, "Password: ", true); err != nil {
					return err
				}
				email = strings.TrimSpace(email)
				if email == "" || password == "" {
					return errors.New("login needs an email and a password")
				}
				lt, err := expect[client.LoginToken](anon)(anon.c.LoginWithBody(ctx, "application/json",
					jsonBody(client.LoginRequest{Email: email, Password: password})))
				if err != nil {
					if isStatus(err, http.StatusUnauthorized) {
						return errors.New("login failed: wrong email or password")
					}
					return err
				}
				token = lt.Token
				exp := lt.ExpiresAt.UTC()
				expires = &exp
			} else {
				expires = jwtExpiry(token)
			}
			c, err := a.newClient(server, token, "", "login")
			if err != nil {
				return err
			}
			me, err := expect[client.Me](c)(c.c.GetMe(ctx))
			if err != nil {
				if isStatus(err, http.StatusUnauthorized) {
					return errors.New("login failed: the server does not accept this token")
				}
				return err
			}
			org := ""
			prev, _ := normalizeServer(a.cfg.Server)
			if prev == server && a.cfg.Email == me.User.Email && hasOrg(me, a.cfg.Organization) {
				org = a.cfg.Organization
			} else if len(me.Organizations) == 1 {
				org = me.Organizations[0].Slug
			}
			a.cfg.Server, a.cfg.Token, a.cfg.TokenExpiresAt = server, token, expires
			a.cfg.Email, a.cfg.Organization = me.User.Email, org
			if err := a.saveConfig(); err != nil {
				return err
			}
			msg := fmt.Sprintf("Logged in to %s as %s", server, me.User.Email)
			if org != "" {
				msg += fmt.Sprintf(" (organization %s)", org)
			}
			fmt.Fprintln(a.Out, msg+".")
			if org == "" && len(me.Organizations) > 1 {
				slugs := make([]string, len(me.Organizations))
				for i, o := range me.Organizations {
					slugs[i] = o.Slug
				}
				fmt.Fprintf(a.Out, "You belong to %d organizations (%s): pick one with `paasctl orgs use SLUG`.\n", len(slugs), strings.Join(slugs, ", "))
			}
			if a.getenv("PAAS_TOKEN") != "" {
				fmt.Fprintln(a.Err, "note: PAAS_TOKEN is set and overrides the stored token")
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&token, "token", "", "use this API token instead of email and password")
	cmd.Flags().StringVar(&email, "email", "", "your email (asked when missing)")
	cmd.Flags().BoolVar(&passwordStdin, "password-stdin", false, "read the password from stdin (for scripts)")
	cmd.MarkFlagsMutuallyExclusive("token", "email")
	cmd.MarkFlagsMutuallyExclusive("token", "password-stdin")
	return cmd
}

func hasOrg(me *client.Me, sel string) bool {
	if sel == "" {
		return false
	}
	for _, o := range me.Organizations {
		if o.Slug == sel || o.Id.String() == sel {
			return true
		}
	}
	return false
}

func (a *app) logoutCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "logout",
		Short: "Forget the stored token",
		Long: `logout removes the token from the configuration file; the server URL stays so
the next login needs no --server. A login token cannot be revoked early; it
expires on its own within 24 hours.`,
		Example: `  paasctl logout`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if a.cfg.Token == "" {
				fmt.Fprintln(a.Out, "Not logged in.")
				return nil
			}
			a.cfg.Token, a.cfg.TokenExpiresAt = "", nil
			if err := a.saveConfig(); err != nil {
				return err
			}
			fmt.Fprintf(a.Out, "Logged out of %s.\n", a.cfg.Server)
			if a.getenv("PAAS_TOKEN") != "" {
				fmt.Fprintln(a.Err, "note: PAAS_TOKEN is still set in your environment")
			}
			return nil
		},
	}
}

func (a *app) whoamiCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "whoami",
		Short:   "Show who you are logged in as, where, and in which organization",
		Example: "  paasctl whoami\n  paasctl whoami -o json",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			me, err := expect[client.Me](c)(c.c.GetMe(cmd.Context()))
			if err != nil {
				return err
			}
			if f, _ := a.format(); f != output.FormatTable {
				return output.Write(a.Out, f, me)
			}
			who := me.User.Email
			if me.User.Name != "" {
				who = me.User.Name + " <" + me.User.Email + ">"
			}
			if me.User.IsAdmin {
				who += " (platform admin)"
			}
			t := output.NewTable("", "")
			t.Row("user:", who)
			t.Row("server:", c.server)
			t.Row("organization:", a.currentOrgText(me))
			auth := "login token"
			if me.AuthMethod == client.ApiToken {
				auth = "API token"
			}
			if c.tokenSource == "PAAS_TOKEN" {
				auth += " from PAAS_TOKEN"
			} else if exp := a.cfg.TokenExpiresAt; exp != nil {
				auth += ", expires in " + output.Age(a.now(), *exp)
			}
			t.Row("auth:", auth)
			return writeRows(a.Out, t)
		},
	}
}

// writeRows prints a table without its (empty) header.
func writeRows(w io.Writer, t *output.Table) error {
	widths := t.Widths()
	for _, r := range t.Rows() {
		fmt.Fprintln(w, output.FormatRow(widths, r))
	}
	return nil
}

// currentOrgText describes the organization requests act in.
func (a *app) currentOrgText(me *client.Me) string {
	sel := a.organization()
	for _, o := range me.Organizations {
		if sel == "" && len(me.Organizations) == 1 || o.Slug == sel || o.Id.String() == sel {
			s := fmt.Sprintf("%s (%s, %s)", o.Slug, o.Name, o.Role)
			if o.Suspended {
				s += " — suspended"
			}
			return s
		}
	}
	switch {
	case sel != "":
		return sel + " (you are not a member)"
	case len(me.Organizations) == 0:
		return "none (ask a platform administrator to add you to one)"
	}
	return "none picked: `paasctl orgs use SLUG`"
}

func (a *app) orgsCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "orgs",
		Aliases: []string{"org", "organizations"},
		Short:   "List your organizations; `orgs use` picks the current one",
		Long: `orgs lists the organizations you belong to and marks the current one: the one
every app command acts in. --org or PAAS_ORG override it for one command.`,
		Example: `  paasctl orgs
  paasctl orgs use acme
  paasctl get apps --org other-team`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			me, err := expect[client.Me](c)(c.c.GetMe(cmd.Context()))
			if err != nil {
				return err
			}
			if f, _ := a.format(); f != output.FormatTable {
				return output.Write(a.Out, f, me.Organizations)
			}
			if len(me.Organizations) == 0 {
				fmt.Fprintln(a.Out, "You belong to no organization: ask a platform administrator to add you to one.")
				return nil
			}
			sel := a.organization()
			t := output.NewTable("CURRENT", "SLUG", "NAME", "ROLE", "SUSPENDED")
			for _, o := range me.Organizations {
				cur := ""
				if o.Slug == sel || o.Id.String() == sel || sel == "" && len(me.Organizations) == 1 {
					cur = "*"
				}
				t.Row(cur, o.Slug, o.Name, string(o.Role), yesNo(o.Suspended))
			}
			return t.Write(a.Out)
		},
	}
	use := &cobra.Command{
		Use:     "use SLUG",
		Short:   "Make an organization the current one",
		Example: "  paasctl orgs use acme",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			me, err := expect[client.Me](c)(c.c.GetMe(cmd.Context()))
			if err != nil {
				return err
			}
			for _, o := range me.Organizations {
				if o.Slug == args[0] || o.Id.String() == args[0] {
					a.cfg.Organization = o.Slug
					if err := a.saveConfig(); err != nil {
						return err
					}
					fmt.Fprintf(a.Out, "Now acting in organization %s (%s).\n", o.Slug, o.Name)
					if a.flags.org != "" || a.getenv("PAAS_ORG") != "" {
						fmt.Fprintln(a.Err, "note: --org or PAAS_ORG still overrides it")
					}
					return nil
				}
			}
			return fmt.Errorf("you are not a member of organization %q (see `paasctl orgs`)", args[0])
		},
		ValidArgsFunction: func(cmd *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
			if len(args) > 0 {
				return nil, cobra.ShellCompDirectiveNoFileComp
			}
			if err := a.loadConfig(); err != nil {
				return nil, cobra.ShellCompDirectiveNoFileComp
			}
			c, err := a.client()
			if err != nil {
				return nil, cobra.ShellCompDirectiveNoFileComp
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), 3*time.Second)
			defer cancel()
			me, err := expect[client.Me](c)(c.c.GetMe(ctx))
			if err != nil {
				return nil, cobra.ShellCompDirectiveNoFileComp
			}
			var out []string
			for _, o := range me.Organizations {
				out = append(out, o.Slug+"\t"+o.Name)
			}
			return out, cobra.ShellCompDirectiveNoFileComp
		},
	}
	cmd.AddCommand(use)
	return cmd
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
