package cli

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/skypanel/paas/api/client"
	"github.com/skypanel/paas/cmd/paasctl/internal/output"
)

// amount renders micro-units with the currency.
func amount(n int64, currency string) string {
	return strings.TrimSpace(money(n) + " " + currency)
}

// parseMoney reads "5", "5.25" or "0.000001" units as micro-units.
func parseMoney(s string) (int64, error) {
	whole, frac, _ := strings.Cut(strings.TrimSpace(s), ".")
	if len(frac) > 6 {
		return 0, fmt.Errorf("%q has more than six decimals", s)
	}
	w, err := strconv.ParseInt(whole, 10, 64)
	if err != nil || w < 0 || w > 1_000_000_000 {
		return 0, fmt.Errorf("%q is not an amount (e.g. 20 or 12.50)", s)
	}
	f := int64(0)
	if frac != "" {
		if f, err = strconv.ParseInt(frac+strings.Repeat("0", 6-len(frac)), 10, 64); err != nil || f < 0 {
			return 0, fmt.Errorf("%q is not an amount (e.g. 20 or 12.50)", s)
		}
	}
	return w*1_000_000 + f, nil
}

func (a *app) walletCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "wallet",
		Short: "Show the organization's balance, burn rate and runway",
		Long: `wallet shows the organization's balance, what its running apps cost an hour,
how long the balance lasts, and whether the organization is suspended (and why).
Apps are charged hourly for the replica-time they really ran. At or under the
threshold the organization is suspended (apps at zero replicas); a top-up
restores every app by itself.`,
		Example: "  paasctl wallet\n  paasctl wallet ledger\n  paasctl wallet top-up 20",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			w, err := expect[client.Wallet](c)(c.c.GetWallet(cmd.Context(), nil))
			if err != nil {
				return err
			}
			if f, _ := a.format(); f != output.FormatTable {
				return output.Write(a.Out, f, w)
			}
			runway := "-"
			if w.RunwayHours != nil {
				runway = (time.Duration(*w.RunwayHours * float64(time.Hour))).Round(time.Minute).String()
			}
			t := output.NewTable("ORGANIZATION", "BALANCE", "BURN/HOUR", "RUNWAY", "SUSPENDED")
			susp := "no"
			if w.Suspended {
				susp = string(w.SuspensionReason)
			}
			t.Row(w.OrganizationSlug, amount(w.BalanceMicros, w.Currency), amount(w.BurnMicrosPerHour, w.Currency), runway, susp)
			if err := t.Write(a.Out); err != nil {
				return err
			}
			if w.SuspensionMessage != "" {
				fmt.Fprintln(a.Err, w.SuspensionMessage)
			}
			return nil
		},
	}
	cmd.AddCommand(a.walletLedgerCmd(), a.walletTopUpCmd())
	return cmd
}

func (a *app) walletLedgerCmd() *cobra.Command {
	var limit int
	cmd := &cobra.Command{
		Use:     "ledger",
		Short:   "Print the organization's ledger, newest first",
		Example: "  paasctl wallet ledger --limit 50",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			page, err := expect[client.LedgerList](c)(c.c.ListLedger(cmd.Context(), &client.ListLedgerParams{Limit: &limit}))
			if err != nil {
				return err
			}
			if f, _ := a.format(); f != output.FormatTable {
				return output.Write(a.Out, f, page)
			}
			t := output.NewTable("WHEN", "KIND", "AMOUNT", "DESCRIPTION", "REFERENCE")
			for _, e := range page.Items {
				t.Row(e.CreatedAt.UTC().Format(time.RFC3339), string(e.Kind), money(e.AmountMicros), output.OneLine(e.Description), e.Reference)
			}
			return t.Write(a.Out)
		},
	}
	cmd.Flags().IntVar(&limit, "limit", 20, "entries to print (1-500)")
	return cmd
}

func (a *app) walletTopUpCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "top-up AMOUNT",
		Short: "Start a Stripe Checkout top-up and print its payment URL",
		Long: `top-up creates a Stripe Checkout session for AMOUNT (in the billing currency,
e.g. 20 or 12.50) and prints the URL to pay at. The wallet is credited when
Stripe confirms the payment.`,
		Example: "  paasctl wallet top-up 20",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			micros, err := parseMoney(args[0])
			if err != nil {
				return err
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			s, err := expect[client.Checkout](c)(c.c.CreateCheckout(cmd.Context(), nil, client.CheckoutRequest{AmountMicros: micros}))
			if err != nil {
				return err
			}
			if f, _ := a.format(); f != output.FormatTable {
				return output.Write(a.Out, f, s)
			}
			fmt.Fprintf(a.Out, "Pay at: %s\n", s.Url)
			return nil
		},
	}
}

func (a *app) usageCmd() *cobra.Command {
	var from, to, by string
	var csvOut bool
	cmd := &cobra.Command{
		Use:   "usage",
		Short: "Print metered replica-hours and their cost, by app or by day",
		Long: `usage prints what the organization's apps really ran (replica-seconds, from
the metered intervals) and what it costs, over --from to --to (default the
last 30 days), grouped by app or by UTC day. --csv prints the CSV export.`,
		Example: "  paasctl usage\n  paasctl usage --by day --from 2026-01-01T00:00:00Z\n  paasctl usage --csv > usage.csv",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			params := &client.GetUsageParams{}
			for _, p := range []struct {
				flag, v string
				dst     **time.Time
			}{{"--from", from, &params.From}, {"--to", to, &params.To}} {
				if p.v == "" {
					continue
				}
				t, err := time.Parse(time.RFC3339, p.v)
				if err != nil {
					return fmt.Errorf("%s: %q is not an RFC 3339 time (e.g. 2026-01-01T00:00:00Z)", p.flag, p.v)
				}
				*p.dst = &t
			}
			switch by {
			case "app", "day":
				g := client.GetUsageParamsGroupBy(by)
				params.GroupBy = &g
			default:
				return fmt.Errorf("--by: want app or day, not %q", by)
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			if csvOut {
				f := client.GetUsageParamsFormatCsv
				params.Format = &f
				resp, err := c.c.GetUsage(cmd.Context(), params)
				body, err := c.read(resp, err)
				if err != nil {
					return err
				}
				_, err = a.Out.Write(body)
				return err
			}
			var items []client.UsageRow
			var u *client.Usage
			limit := 500
			for {
				u, err = expect[client.Usage](c)(c.c.GetUsage(cmd.Context(), params))
				if err != nil {
					return err
				}
				items = append(items, u.Items...)
				if u.NextCursor == nil || *u.NextCursor == "" {
					break
				}
				params.Cursor, params.Limit = u.NextCursor, &limit
			}
			u.Items, u.NextCursor = items, nil
			if f, _ := a.format(); f != output.FormatTable {
				return output.Write(a.Out, f, u)
			}
			t := output.NewTable(strings.ToUpper(by), "REPLICA-HOURS", "COST")
			for _, r := range u.Items {
				key := r.Key
				if r.Name != nil {
					key = *r.Name
				}
				t.Row(key, strconv.FormatFloat(r.ReplicaSeconds/3600, 'f', 2, 64), amount(r.CostMicros, u.Currency))
			}
			t.Row("TOTAL", "", amount(u.TotalCostMicros, u.Currency))
			return t.Write(a.Out)
		},
	}
	cmd.Flags().StringVar(&from, "from", "", "start (RFC 3339; default 30 days before --to)")
	cmd.Flags().StringVar(&to, "to", "", "end, exclusive (RFC 3339; default now)")
	cmd.Flags().StringVar(&by, "by", "app", "group by app or day")
	cmd.Flags().BoolVar(&csvOut, "csv", false, "print the CSV export")
	return cmd
}
