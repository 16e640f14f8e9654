// Package cli is paasctl's command tree (cobra): declarative apply/diff,
// reading (get, describe, events, logs), acting (deploy, scale, rollback,
// env, rollout status) and the login/organization plumbing.
package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/spf13/cobra"

	"github.com/skypanel/paas/cmd/paasctl/internal/config"
	"github.com/skypanel/paas/cmd/paasctl/internal/output"
)

// IO is what a run of paasctl reads and writes.
type IO struct {
	In       io.Reader
	Out, Err io.Writer
	Getenv   func(string) string
	// InTTY, OutTTY and ErrTTY say which streams are terminals.
	InTTY, OutTTY, ErrTTY bool
	// InFd is stdin's descriptor, for reading a password without echo.
	InFd int
}

// StdIO is the process's own streams.
func StdIO() IO {
	return IO{
		In: os.Stdin, Out: os.Stdout, Err: os.Stderr, Getenv: os.Getenv,
		InTTY:  isatty.IsTerminal(os.Stdin.Fd()),
		OutTTY: isatty.IsTerminal(os.Stdout.Fd()),
		ErrTTY: isatty.IsTerminal(os.Stderr.Fd()),
		InFd:   int(os.Stdin.Fd()),
	}
}

// app is one run's state: streams, global flags and configuration.
type app struct {
	IO
	version string
	now     func() time.Time
	flags   struct {
		output  string
		org     string
		server  string
		noColor bool
	}
	cfgPath string
	cfg     *config.Config
	// lines reads stdin for prompts.
	lines *bufio.Reader
}

// exitError ends the run with a code; an empty message prints nothing (the
// command already said why).
type exitError struct {
	code int
	msg  string
}

func (e *exitError) Error() string { return e.msg }

// Exit codes.
const (
	exitOK          = 0
	exitError1      = 1
	exitDiffFound   = 2
	exitInterrupted = 130
)

// Main runs paasctl with args (without the program name) and returns the
// exit code. Errors are printed as one line (plus an API problem's field
// errors), never as a stack trace.
func Main(ctx context.Context, args []string, io IO, version string) int {
	a := &app{IO: io, version: version, now: time.Now}
	root := a.rootCmd()
	root.SetArgs(args)
	root.SetIn(io.In)
	root.SetOut(io.Out)
	root.SetErr(io.Err)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	if ctx.Err() != nil && (errors.Is(err, context.Canceled) || errors.Is(err, ctx.Err())) {
		return exitInterrupted
	}
	return a.report(err)
}

// report prints err and returns the exit code.
func (a *app) report(err error) int {
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.msg != "" {
			a.errorLine(ee.msg)
		}
		return ee.code
	}
	var p *problemError
	if errors.As(err, &p) {
		a.errorLine(err.Error())
		for _, d := range p.details() {
			fmt.Fprintln(a.Err, "  "+d)
		}
		return exitError1
	}
	a.errorLine(err.Error())
	return exitError1
}

func (a *app) errorLine(msg string) {
	c := output.Colors{Enabled: a.ErrTTY && a.colorAllowed()}
	fmt.Fprintln(a.Err, c.Red("error:")+" "+output.OneLine(msg))
}

func (a *app) colorAllowed() bool {
	return !a.flags.noColor && a.Getenv("NO_COLOR") == "" && a.Getenv("TERM") != "dumb"
}

// colors paints standard output, only when it is a terminal.
func (a *app) colors() output.Colors {
	return output.Colors{Enabled: a.OutTTY && a.colorAllowed()}
}

// format is the -o flag, checked.
func (a *app) format() (output.Format, error) { return output.ParseFormat(a.flags.output) }

func (a *app) rootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "paasctl",
		Short: "Declare and watch apps on a SkyPanel PaaS",
		Long: `paasctl talks to a SkyPanel PaaS server (paasd). You declare apps in YAML
and apply them; the platform converges Docker Swarm on what you declared and
reports back status, conditions and events, which paasctl shows and waits on.

Configuration: ` + "`paasctl login`" + ` stores the server and a token in
$XDG_CONFIG_HOME/paasctl/config.yaml (~/.config/paasctl/config.yaml), mode 0600.
PAAS_SERVER, PAAS_TOKEN and PAAS_ORG override it; PAASCTL_CONFIG moves it.`,
		Example: `  paasctl login --server http://127.0.0.1:8080
  paasctl apply -f app.yaml
  paasctl rollout status web
  paasctl get apps -w`,
		SilenceErrors:     true,
		SilenceUsage:      true,
		DisableAutoGenTag: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			if _, err := a.format(); err != nil {
				return err
			}
			return a.loadConfig()
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return cmd.Help()
		},
	}
	pf := root.PersistentFlags()
	pf.StringVarP(&a.flags.output, "output", "o", "table", "output format: table, json or yaml")
	pf.StringVar(&a.flags.org, "org", "", "organization to act in, slug or id (default: $PAAS_ORG, then the one picked with paasctl orgs use)")
	pf.StringVar(&a.flags.server, "server", "", "paasd URL (default: $PAAS_SERVER, then the one you logged in to)")
	pf.BoolVar(&a.flags.noColor, "no-color", false, "never print colours (they are only used on a terminal anyway; NO_COLOR works too)")
	_ = root.RegisterFlagCompletionFunc("output", cobra.FixedCompletions([]string{"table", "json", "yaml"}, cobra.ShellCompDirectiveNoFileComp))

	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error {
		return fmt.Errorf("%v (see `%s --help`)", err, cmd.CommandPath())
	})

	root.AddGroup(
		&cobra.Group{ID: "declare", Title: "Declaring apps:"},
		&cobra.Group{ID: "read", Title: "Reading state:"},
		&cobra.Group{ID: "act", Title: "Acting on apps:"},
		&cobra.Group{ID: "setup", Title: "Login and organizations:"},
		&cobra.Group{ID: "billing", Title: "Billing:"},
		&cobra.Group{ID: "admin", Title: "Administration:"},
	)
	add := func(group string, cmds ...*cobra.Command) {
		for _, c := range cmds {
			c.GroupID = group
			root.AddCommand(c)
		}
	}
	add("declare", a.applyCmd(), a.diffCmd(), a.deleteCmd())
	add("read", a.getCmd(), a.describeCmd(), a.eventsCmd(), a.logsCmd(), a.topCmd())
	add("act", a.deployCmd(), a.cancelCmd(), a.webhookSecretCmd(), a.scaleCmd(), a.stopCmd(), a.startCmd(), a.restartCmd(), a.rollbackCmd(), a.envCmd(), a.rolloutCmd(), a.domainsCmd())
	add("setup", a.loginCmd(), a.logoutCmd(), a.whoamiCmd(), a.orgsCmd(), a.passwdCmd(), a.gitCredentialsCmd())
	add("billing", a.walletCmd(), a.usageCmd())
	add("admin", a.adminCmd())
	root.AddCommand(a.versionCmd())

	root.InitDefaultHelpCmd()
	root.InitDefaultCompletionCmd()
	for _, c := range root.Commands() {
		switch c.Name() {
		case "help":
			c.Example = "  paasctl help apply\n  paasctl help env set"
		case "completion":
			c.Example = completionExamples
			for _, sub := range c.Commands() {
				sub.Example = "  source <(paasctl completion " + sub.Name() + ")"
				if sub.Name() == "powershell" {
					sub.Example = "  paasctl completion powershell | Out-String | Invoke-Expression"
				}
			}
		}
	}
	return root
}

const completionExamples = `  # bash, this shell only:
  source <(paasctl completion bash)
  # bash, every new shell:
  paasctl completion bash > ~/.local/share/bash-completion/completions/paasctl
  # zsh:
  paasctl completion zsh > "${fpath[1]}/_paasctl"
  # fish:
  paasctl completion fish > ~/.config/fish/completions/paasctl.fish`

// loadConfig reads the configuration file once.
func (a *app) loadConfig() error {
	if a.cfg != nil {
		return nil
	}
	p, err := config.Path(a.Getenv)
	if err != nil {
		return err
	}
	cfg, err := config.Load(p)
	if err != nil {
		return err
	}
	a.cfgPath, a.cfg = p, cfg
	return nil
}

func (a *app) getenv(k string) string { return a.Getenv(k) }

func (a *app) versionCmd() *cobra.Command {
	var clientOnly bool
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print paasctl's version and the server's API version",
		Example: `  paasctl version
  paasctl version --client`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			info := map[string]string{"client": a.version, "go": runtime.Version(), "platform": runtime.GOOS + "/" + runtime.GOARCH}
			if !clientOnly {
				if server, err := a.serverURL(); err == nil {
					info["server"] = server
					if c, err := a.newClient(server, "", "", ""); err == nil {
						ctx, cancel := context.WithTimeout(cmd.Context(), 5*time.Second)
						doc, err := expect[openAPIInfo](c)(c.c.GetOpenAPI(ctx))
						cancel()
						if err == nil {
							info["server_api"] = doc.Info.Version
						} else {
							info["server_error"] = err.Error()
						}
					}
				}
			}
			f, _ := a.format()
			if f != output.FormatTable {
				return output.Write(a.Out, f, info)
			}
			fmt.Fprintf(a.Out, "paasctl %s (%s %s)\n", info["client"], info["go"], info["platform"])
			if s := info["server"]; s != "" {
				switch {
				case info["server_api"] != "":
					fmt.Fprintf(a.Out, "server  %s (API %s)\n", s, info["server_api"])
				default:
					fmt.Fprintf(a.Out, "server  %s (%s)\n", s, strings.TrimSpace(info["server_error"]))
				}
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&clientOnly, "client", false, "only the client's version; do not ask the server")
	return cmd
}

// openAPIInfo is the part of the served OpenAPI document version reads.
type openAPIInfo struct {
	Info struct {
		Version string `json:"version"`
	} `json:"info"`
}
