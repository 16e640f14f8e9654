package cli

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/skypanel/paas/api/client"
	"github.com/skypanel/paas/cmd/paasctl/internal/output"
	"github.com/skypanel/paas/store/spec"
)

// domainPollInterval is how often `domains verify --wait` reads the domain.
const domainPollInterval = 500 * time.Millisecond

// listDomains returns every domain of an app, page after page.
func (c *apiClient) listDomains(ctx context.Context, app string) ([]client.Domain, error) {
	var all []client.Domain
	limit := 500
	var cursor *string
	for {
		page, err := expect[client.DomainList](c)(c.c.ListDomains(ctx, app, &client.ListDomainsParams{Limit: &limit, Cursor: cursor}))
		if err != nil {
			return nil, err
		}
		all = append(all, page.Items...)
		if page.NextCursor == "" {
			return all, nil
		}
		next := page.NextCursor
		cursor = &next
	}
}

// checkHostname refuses a hostname the API would refuse, before any
// request is sent, and returns it in the API's form.
func checkHostname(h string) (string, error) {
	norm, err := spec.Hostname(h)
	if err != nil {
		return "", fmt.Errorf("%q is not a hostname: %v", h, err)
	}
	return norm, nil
}

func (a *app) domainsCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "domains",
		Aliases: []string{"domain"},
		Short:   "List, add, verify and remove an app's custom domains",
		Long: `domains manages an app's custom hostnames. A hostname added is pending until
its owner proves control of it with a DNS TXT record (add prints it); verify
asks the platform to check the record, and a verified hostname is routed to
the app with automatic TLS. Every app also has a hostname under the
platform's default domain, shown in its status URLs.`,
		Example: `  paasctl domains list web
  paasctl domains add web www.example.com
  paasctl domains verify web www.example.com --wait
  paasctl domains rm web www.example.com`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(a.domainsListCmd(), a.domainsAddCmd(), a.domainsVerifyCmd(), a.domainsRmCmd())
	return cmd
}

func (a *app) domainsListCmd() *cobra.Command {
	return &cobra.Command{
		Use:               "list APP",
		Aliases:           []string{"ls"},
		Short:             "Print an app's domains, their status and last check",
		Example:           "  paasctl domains list web\n  paasctl domains list web -o json",
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: a.completeApps,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			ds, err := c.listDomains(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if f, _ := a.format(); f != output.FormatTable {
				return output.Write(a.Out, f, map[string]any{"items": ds})
			}
			if len(ds) == 0 {
				fmt.Fprintf(a.Err, "%s has no custom domains (paasctl domains add %s HOSTNAME adds one).\n", args[0], args[0])
				return nil
			}
			t := output.NewTable("HOSTNAME", "STATUS", "CHECKED", "LAST ERROR")
			for _, d := range ds {
				checked := "never"
				if d.CheckedAt != nil {
					checked = output.Age(*d.CheckedAt, a.now()) + " ago"
				}
				t.Row(d.Hostname, d.Status, checked, output.OneLine(d.LastError))
			}
			return t.Write(a.Out)
		},
	}
}

func (a *app) domainsAddCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "add APP HOSTNAME",
		Short: "Add a custom domain and print the DNS record that proves it",
		Long: `add gives the app a custom hostname, pending until its TXT record is found:
create the record it prints, then run paasctl domains verify.`,
		Example:           "  paasctl domains add web www.example.com",
		Args:              cobra.ExactArgs(2),
		ValidArgsFunction: a.completeApps,
		RunE: func(cmd *cobra.Command, args []string) error {
			host, err := checkHostname(args[1])
			if err != nil {
				return err
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			d, err := expect[client.Domain](c)(c.c.CreateDomain(cmd.Context(), args[0], nil, client.CreateDomainRequest{Hostname: host}))
			if err != nil {
				return err
			}
			if f, _ := a.format(); f != output.FormatTable {
				return output.Write(a.Out, f, d)
			}
			fmt.Fprintf(a.Out, "domain/%s added to %s (%s)\n", d.Hostname, args[0], d.Status)
			if d.Verification.Value != nil {
				fmt.Fprintf(a.Out, "Create this DNS record, then run `paasctl domains verify %s %s --wait`:\n", args[0], d.Hostname)
				fmt.Fprintf(a.Out, "  %s  %s  %q\n", d.Verification.Name, d.Verification.Type, *d.Verification.Value)
			}
			return nil
		},
	}
}

func (a *app) domainsVerifyCmd() *cobra.Command {
	var wait bool
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "verify APP HOSTNAME",
		Short: "Ask for a check of a domain's TXT record",
		Long: `verify asks the platform to look up the domain's TXT record now. With --wait it
waits for that check and prints its outcome: verified (or routed), or why
the record was not found (then it exits 1).`,
		Example: `  paasctl domains verify web www.example.com
  paasctl domains verify web www.example.com --wait --timeout 5m`,
		Args:              cobra.ExactArgs(2),
		ValidArgsFunction: a.completeApps,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			d, err := expect[client.Domain](c)(c.c.VerifyDomain(ctx, args[0], args[1], nil))
			if err != nil {
				return err
			}
			if !wait {
				if f, _ := a.format(); f != output.FormatTable {
					return output.Write(a.Out, f, d)
				}
				fmt.Fprintf(a.Out, "domain/%s: check requested (paasctl domains list %s shows the outcome)\n", d.Hostname, args[0])
				return nil
			}
			d, err = a.waitDomainCheck(ctx, c, args[0], d, timeout)
			if err != nil {
				return err
			}
			if f, _ := a.format(); f != output.FormatTable {
				if err := output.Write(a.Out, f, d); err != nil {
					return err
				}
			} else {
				fmt.Fprintln(a.Out, domainOutcome(d))
			}
			if d.Status != "verified" && d.Status != "routed" {
				return &exitError{code: exitError1}
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&wait, "wait", false, "wait for the check and print its outcome")
	cmd.Flags().DurationVar(&timeout, "timeout", 2*time.Minute, "with --wait: give up after this long")
	return cmd
}

// domainOutcome says in one line what the last check of d found.
func domainOutcome(d *client.Domain) string {
	switch d.Status {
	case "routed":
		return fmt.Sprintf("domain/%s verified and routed: https://%s", d.Hostname, d.Hostname)
	case "verified":
		return fmt.Sprintf("domain/%s verified (routing follows)", d.Hostname)
	}
	msg := d.LastError
	if msg == "" {
		msg = "the TXT record was not found"
	}
	return fmt.Sprintf("domain/%s not verified (%s): %s; the record must be %s TXT %q", d.Hostname, d.Status, msg,
		d.Verification.Name, proof(d))
}

// proof is the TXT record's value, or a placeholder when it is hidden.
func proof(d *client.Domain) string {
	if d.Verification.Value == nil {
		return "(hidden: only owners and members see it)"
	}
	return *d.Verification.Value
}

// waitDomainCheck reads the domain until a check newer than its request
// is recorded (checked_at after verify_requested_at).
func (a *app) waitDomainCheck(ctx context.Context, c *apiClient, appName string, d *client.Domain, timeout time.Duration) (*client.Domain, error) {
	if d.VerifyRequestedAt == nil {
		return nil, errors.New("the server did not record the request")
	}
	requested := *d.VerifyRequestedAt
	deadline := time.Now().Add(timeout)
	for {
		if d.CheckedAt != nil && d.CheckedAt.After(requested) {
			return d, nil
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("domain/%s: no check within %s (still %s); is the platform's domain loop running?", d.Hostname, timeout, d.Status)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(domainPollInterval):
		}
		next, err := expect[client.Domain](c)(c.c.GetDomain(ctx, appName, d.Id.String(), nil))
		if err != nil {
			return nil, err
		}
		d = next
	}
}

func (a *app) domainsRmCmd() *cobra.Command {
	return &cobra.Command{
		Use:               "rm APP HOSTNAME",
		Aliases:           []string{"remove", "delete"},
		Short:             "Remove a custom domain (it stops being routed)",
		Example:           "  paasctl domains rm web www.example.com",
		Args:              cobra.ExactArgs(2),
		ValidArgsFunction: a.completeApps,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			if _, err := c.read(c.c.DeleteDomain(cmd.Context(), args[0], args[1], nil)); err != nil {
				return err
			}
			name := args[1]
			if h, err := spec.Hostname(name); err == nil {
				name = h
			}
			fmt.Fprintf(a.Out, "domain/%s removed from %s\n", name, args[0])
			return nil
		},
	}
}
