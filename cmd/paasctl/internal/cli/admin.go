package cli

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/skypanel/paas/api/client"
	"github.com/skypanel/paas/cmd/paasctl/internal/output"
)

func (a *app) adminCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "admin",
		Short:   "Platform administration (platform admins only)",
		Example: "  paasctl admin users list\n  paasctl admin users disable mallory@example.com",
		Args:    cobra.NoArgs,
		RunE:    func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(a.adminUsersCmd(), a.adminNodesCmd())
	return cmd
}

func (a *app) adminUsersCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "users",
		Aliases: []string{"user"},
		Short:   "List users; disable or enable one",
		Example: "  paasctl admin users list\n  paasctl admin users disable mallory@example.com\n  paasctl admin users enable mallory@example.com",
		Args:    cobra.NoArgs,
		RunE:    func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(a.adminUsersListCmd(), a.adminUsersSetCmd(true), a.adminUsersSetCmd(false))
	return cmd
}

func (a *app) adminUsersListCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List every user, by email",
		Example: "  paasctl admin users list\n  paasctl admin users list -o json",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			users, err := c.listUsers(cmd.Context())
			if err != nil {
				return err
			}
			if f, _ := a.format(); f != output.FormatTable {
				return output.Write(a.Out, f, users)
			}
			t := output.NewTable("EMAIL", "NAME", "ADMIN", "DISABLED", "AGE")
			for _, u := range users {
				t.Row(u.Email, u.Name, yesNo(u.IsAdmin), yesNo(u.Disabled), output.Age(u.CreatedAt, a.now()))
			}
			return t.Write(a.Out)
		},
	}
}

// adminUsersSetCmd is `disable` (disabled) or `enable`.
func (a *app) adminUsersSetCmd(disabled bool) *cobra.Command {
	verb, short := "enable", "Let a disabled user log in and use its API tokens again"
	if disabled {
		verb, short = "disable", "Refuse a user's logins and every credential it holds, from its next request on"
	}
	return &cobra.Command{
		Use:     verb + " EMAIL|ID",
		Short:   short,
		Example: fmt.Sprintf("  paasctl admin users %s mallory@example.com", verb),
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			u, err := expect[client.User](c)(c.c.AdminPatchUser(cmd.Context(), args[0], client.PatchUserRequest{Disabled: disabled}))
			if err != nil {
				return err
			}
			if f, _ := a.format(); f != output.FormatTable {
				return output.Write(a.Out, f, u)
			}
			fmt.Fprintf(a.Out, "user/%s %sd\n", u.Email, verb)
			return nil
		},
	}
}

// listUsers returns every user, page after page.
func (c *apiClient) listUsers(ctx context.Context) ([]client.User, error) {
	var all []client.User
	limit := 500
	var cursor *string
	for {
		page, err := expect[client.UserList](c)(c.c.AdminListUsers(ctx, &client.AdminListUsersParams{Limit: &limit, Cursor: cursor}))
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
