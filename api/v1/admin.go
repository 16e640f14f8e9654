package v1

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/mail"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/skypanel/paas/api/openapi"
	"github.com/skypanel/paas/api/problem"
	"github.com/skypanel/paas/controllers/build"
	"github.com/skypanel/paas/store"
	"github.com/skypanel/paas/store/secret"
	"github.com/skypanel/paas/store/spec"
)

func sortErrors(errs []problem.FieldError) {
	slices.SortFunc(errs, func(a, b problem.FieldError) int { return strings.Compare(a.Field, b.Field) })
}

// AdminOverview answers counts, capacity and revenue.
func (s *server) AdminOverview(c echo.Context) error {
	ctx := c.Request().Context()
	now := s.Now()
	o, err := s.Store.APIOverview(ctx, store.APIOverviewParams{DayAgo: now.Add(-24 * time.Hour), MonthAgo: now.Add(-30 * 24 * time.Hour)})
	if err != nil {
		return err
	}
	phases, err := s.Store.APIAppPhaseCounts(ctx)
	if err != nil {
		return err
	}
	out := openapi.Overview{
		Organizations: o.Organizations, SuspendedOrganizations: o.SuspendedOrganizations, Users: o.Users,
		Apps: o.Apps, AppsByPhase: map[string]int64{}, Deployments24h: o.Deployments24h,
	}
	for _, p := range phases {
		out.AppsByPhase[p.Phase] = p.N
	}
	out.Replicas.Desired, out.Replicas.Running = o.DesiredReplicas, o.RunningReplicas
	out.Capacity.Nodes, out.Capacity.NodesReady = o.Nodes, o.NodesReady
	out.Capacity.CpuMillis, out.Capacity.MemoryBytes = o.CapacityCpuMillis, o.CapacityMemoryBytes
	out.Capacity.AllocatedCpuMillis, out.Capacity.AllocatedMemoryBytes = o.AllocatedCpuMillis, o.AllocatedMemoryMb<<20
	out.Revenue.Last24hMicros, out.Revenue.Last30dMicros = o.Revenue24hMicros, o.Revenue30dMicros
	out.Revenue.TotalMicros, out.Revenue.WalletBalanceMicros = o.RevenueTotalMicros, o.WalletBalanceMicros
	return c.JSON(http.StatusOK, out)
}

// findOrganization finds an organization by id or slug.
func findOrganization(ctx context.Context, q *store.Queries, ident string) (store.APIGetOrganizationRow, error) {
	id, slug := identOf(ident)
	o, err := q.APIGetOrganization(ctx, store.APIGetOrganizationParams{ID: id, Slug: slug})
	if store.IsNotFound(err) {
		return o, problem.NotFound(fmt.Sprintf("organization %q not found", ident))
	}
	return o, err
}

func organizationOut(o store.APIGetOrganizationRow) openapi.Organization {
	return openapi.Organization{Id: o.ID, Name: o.Name, Slug: o.Slug, Suspended: o.Suspended, AppCount: o.AppCount,
		MemberCount: o.MemberCount, BalanceMicros: o.BalanceMicros, CreatedAt: o.CreatedAt, UpdatedAt: o.UpdatedAt}
}

// AdminListApps answers every app of the installation, oldest first.
func (s *server) AdminListApps(c echo.Context, params openapi.AdminListAppsParams) error {
	ctx := c.Request().Context()
	limit, err := pageLimit(params.Limit)
	if err != nil {
		return err
	}
	afterCreated, afterID, err := decodeTimeIDCursor(params.Cursor)
	if err != nil {
		return err
	}
	p := store.APIAdminListAppsParams{AfterCreated: afterCreated, AfterID: afterID, Lim: int32(limit + 1)}
	if params.Organization != nil && *params.Organization != "" {
		o, err := findOrganization(ctx, s.Store.Queries, *params.Organization)
		if err != nil {
			return err
		}
		p.OrganizationID = uuid.NullUUID{UUID: o.ID, Valid: true}
	}
	rows, err := s.Store.APIAdminListApps(ctx, p)
	if err != nil {
		return err
	}
	// Admins may not write an organization's env through the API, so they
	// do not read its values either.
	rt, err := loadRoutes(ctx, s.Store.Queries, rows)
	if err != nil {
		return err
	}
	items, next, err := page(rows, limit, s.renderer(false, rt), func(a store.AppView) string {
		return timeIDKey(a.CreatedAt, a.ID)
	})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, openapi.AppList{Items: items, NextCursor: next})
}

// AdminListOrganizations answers a page of organizations by slug.
func (s *server) AdminListOrganizations(c echo.Context, params openapi.AdminListOrganizationsParams) error {
	limit, err := pageLimit(params.Limit)
	if err != nil {
		return err
	}
	after, err := decodeCursor(params.Cursor)
	if err != nil {
		return err
	}
	rows, err := s.Store.APIListOrganizations(c.Request().Context(), store.APIListOrganizationsParams{AfterSlug: after, Lim: int32(limit + 1)})
	if err != nil {
		return err
	}
	items, next, err := page(rows, limit,
		func(r store.APIListOrganizationsRow) (openapi.Organization, error) {
			return organizationOut(store.APIGetOrganizationRow(r)), nil
		},
		func(r store.APIListOrganizationsRow) string { return r.Slug })
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, openapi.OrganizationList{Items: items, NextCursor: next})
}

type createOrganizationRequest struct {
	Name       *string `json:"name"`
	Slug       *string `json:"slug"`
	OwnerEmail *string `json:"owner_email"`
}

// AdminCreateOrganization creates an organization, with an owner if named.
func (s *server) AdminCreateOrganization(c echo.Context) error {
	var req createOrganizationRequest
	if err := readJSON(c, &req); err != nil {
		return err
	}
	var errs []problem.FieldError
	name, slug := "", ""
	if req.Name == nil || strings.TrimSpace(*req.Name) == "" {
		errs = append(errs, fe("name", "is required"))
	} else if name = strings.TrimSpace(*req.Name); len(name) > 128 || !validText(name) {
		errs = append(errs, fe("name", "must be 1 to 128 characters of text"))
	}
	if req.Slug == nil {
		errs = append(errs, fe("slug", "is required"))
	} else {
		slug = *req.Slug
		errs = append(errs, checkName("slug", slug)...)
		if _, err := uuid.Parse(slug); err == nil {
			errs = append(errs, fe("slug", "must not look like an id"))
		}
	}
	ctx := c.Request().Context()
	var owner *store.User
	if req.OwnerEmail != nil && !validText(*req.OwnerEmail) {
		errs = append(errs, fe("owner_email", "is not an email address"))
	} else if req.OwnerEmail != nil && *req.OwnerEmail != "" {
		u, err := s.Store.GetUserByEmail(ctx, strings.ToLower(strings.TrimSpace(*req.OwnerEmail)))
		if store.IsNotFound(err) {
			errs = append(errs, fe("owner_email", "no user has this email (create it with POST /api/admin/paas/users)"))
		} else if err != nil {
			return err
		} else {
			owner = &u
		}
	}
	if len(errs) > 0 {
		return problem.Invalid(errs...)
	}
	var id uuid.UUID
	err := s.Store.InTx(ctx, func(q *store.Queries) error {
		o, err := q.CreateOrganization(ctx, store.CreateOrganizationParams{Name: name, Slug: slug})
		if _, ok := store.IsUniqueViolation(err); ok {
			return problem.Conflict(fmt.Sprintf("an organization with slug %q already exists", slug))
		}
		if err != nil {
			return err
		}
		id = o.ID
		details := map[string]any{"slug": slug}
		if owner != nil {
			if err := q.AddMembership(ctx, store.AddMembershipParams{OrganizationID: o.ID, UserID: owner.ID, Role: "owner"}); err != nil {
				return err
			}
			details["owner"] = owner.Email
		}
		return audit(ctx, q, caller(c), "organization.create", "organization", o.ID.String(), o.ID, details)
	})
	if err != nil {
		return err
	}
	o, err := findOrganization(ctx, s.Store.Queries, id.String())
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, organizationOut(o))
}

// AdminGetOrganization answers one organization.
func (s *server) AdminGetOrganization(c echo.Context, ident openapi.OrganizationPath) error {
	o, err := findOrganization(c.Request().Context(), s.Store.Queries, ident)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, organizationOut(o))
}

// AdminListMembers answers a page of an organization's members, by email.
func (s *server) AdminListMembers(c echo.Context, ident openapi.OrganizationPath, params openapi.AdminListMembersParams) error {
	limit, err := pageLimit(params.Limit)
	if err != nil {
		return err
	}
	after, err := decodeCursor(params.Cursor)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	o, err := findOrganization(ctx, s.Store.Queries, ident)
	if err != nil {
		return err
	}
	rows, err := s.Store.APIListMembers(ctx, store.APIListMembersParams{OrganizationID: o.ID, AfterEmail: after, Lim: int32(limit + 1)})
	if err != nil {
		return err
	}
	items, next, err := page(rows, limit,
		func(m store.APIListMembersRow) (openapi.Member, error) {
			return openapi.Member{UserId: m.ID, Email: m.Email, Name: m.Name, Role: openapi.Role(m.Role), CreatedAt: m.CreatedAt}, nil
		},
		func(m store.APIListMembersRow) string { return m.Email })
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, openapi.MemberList{Items: items, NextCursor: next})
}

type addMemberRequest struct {
	Email *string `json:"email"`
	Role  *string `json:"role"`
}

// AdminAddMember adds a user to an organization or changes its role.
func (s *server) AdminAddMember(c echo.Context, ident openapi.OrganizationPath) error {
	var req addMemberRequest
	if err := readJSON(c, &req); err != nil {
		return err
	}
	ctx := c.Request().Context()
	o, err := findOrganization(ctx, s.Store.Queries, ident)
	if err != nil {
		return err
	}
	var errs []problem.FieldError
	var user store.User
	if req.Email == nil || *req.Email == "" || !validText(*req.Email) {
		errs = append(errs, fe("email", "is required: an email address"))
	} else {
		user, err = s.Store.GetUserByEmail(ctx, strings.ToLower(strings.TrimSpace(*req.Email)))
		if store.IsNotFound(err) {
			errs = append(errs, fe("email", "no user has this email (create it with POST /api/admin/paas/users)"))
		} else if err != nil {
			return err
		}
	}
	if req.Role == nil || !slices.Contains(roles, *req.Role) {
		errs = append(errs, fe("role", "must be one of "+strings.Join(roles, ", ")))
	}
	if len(errs) > 0 {
		return problem.Invalid(errs...)
	}
	var m store.APIGetMembershipRow
	err = s.Store.InTx(ctx, func(q *store.Queries) error {
		if _, err := q.APILockOrganization(ctx, o.ID); err != nil {
			return err
		}
		prev, err := q.APIGetMembership(ctx, store.APIGetMembershipParams{OrganizationID: o.ID, UserID: user.ID})
		if err == nil && prev.Role == "owner" && *req.Role != "owner" {
			if err := checkNotLastOwner(ctx, q, o.ID); err != nil {
				return err
			}
		} else if err != nil && !store.IsNotFound(err) {
			return err
		}
		if err := q.AddMembership(ctx, store.AddMembershipParams{OrganizationID: o.ID, UserID: user.ID, Role: *req.Role}); err != nil {
			return err
		}
		if m, err = q.APIGetMembership(ctx, store.APIGetMembershipParams{OrganizationID: o.ID, UserID: user.ID}); err != nil {
			return err
		}
		return audit(ctx, q, caller(c), "membership.put", "membership", user.ID.String(), o.ID,
			map[string]any{"email": user.Email, "role": *req.Role})
	})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, openapi.Member{UserId: m.UserID, Email: m.Email, Name: m.Name,
		Role: openapi.Role(m.Role), CreatedAt: m.CreatedAt})
}

func checkNotLastOwner(ctx context.Context, q *store.Queries, orgID uuid.UUID) error {
	n, err := q.APICountOwners(ctx, orgID)
	if err != nil {
		return err
	}
	if n <= 1 {
		return problem.Conflict("this is the organization's last owner: make another member owner first")
	}
	return nil
}

// AdminRemoveMember removes a user from an organization.
func (s *server) AdminRemoveMember(c echo.Context, ident openapi.OrganizationPath, userID uuid.UUID) error {
	ctx := c.Request().Context()
	o, err := findOrganization(ctx, s.Store.Queries, ident)
	if err != nil {
		return err
	}
	err = s.Store.InTx(ctx, func(q *store.Queries) error {
		if _, err := q.APILockOrganization(ctx, o.ID); err != nil {
			return err
		}
		m, err := q.APIGetMembership(ctx, store.APIGetMembershipParams{OrganizationID: o.ID, UserID: userID})
		if store.IsNotFound(err) {
			return problem.NotFound("this user is not a member of the organization")
		}
		if err != nil {
			return err
		}
		if m.Role == "owner" {
			if err := checkNotLastOwner(ctx, q, o.ID); err != nil {
				return err
			}
		}
		if _, err := q.APIRemoveMembership(ctx, store.APIRemoveMembershipParams{OrganizationID: o.ID, UserID: userID}); err != nil {
			return err
		}
		return audit(ctx, q, caller(c), "membership.delete", "membership", userID.String(), o.ID, map[string]any{"email": m.Email})
	})
	if err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// AdminListUsers answers a page of users by email.
func (s *server) AdminListUsers(c echo.Context, params openapi.AdminListUsersParams) error {
	limit, err := pageLimit(params.Limit)
	if err != nil {
		return err
	}
	after, err := decodeCursor(params.Cursor)
	if err != nil {
		return err
	}
	rows, err := s.Store.APIListUsers(c.Request().Context(), store.APIListUsersParams{AfterEmail: after, Lim: int32(limit + 1)})
	if err != nil {
		return err
	}
	items, next, err := page(rows, limit,
		func(u store.APIListUsersRow) (openapi.User, error) {
			return userOut(u.ID, u.Email, u.Name, u.IsAdmin, u.Disabled, u.CreatedAt), nil
		},
		func(u store.APIListUsersRow) string { return u.Email })
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, openapi.UserList{Items: items, NextCursor: next})
}

type createUserRequest struct {
	Email    *string `json:"email"`
	Name     *string `json:"name"`
	Password *string `json:"password"`
	IsAdmin  *bool   `json:"is_admin"`
}

var emailRe = regexp.MustCompile(`^[^@\s]+@[^@\s]+$`)

// AdminCreateUser creates a user.
func (s *server) AdminCreateUser(c echo.Context) error {
	var req createUserRequest
	if err := readJSON(c, &req); err != nil {
		return err
	}
	var errs []problem.FieldError
	email, name := "", ""
	if req.Email == nil {
		errs = append(errs, fe("email", "is required"))
	} else if email = strings.ToLower(strings.TrimSpace(*req.Email)); len(email) > 254 || !emailRe.MatchString(email) || !validText(email) {
		errs = append(errs, fe("email", "is not an email address"))
	}
	if req.Name != nil {
		if name = strings.TrimSpace(*req.Name); len(name) > 128 || !validText(name) {
			errs = append(errs, fe("name", "must be at most 128 characters of text"))
		}
	}
	if req.Password == nil || len(*req.Password) < 8 || len(*req.Password) > 72 {
		errs = append(errs, fe("password", "must be 8 to 72 bytes"))
	}
	if len(errs) > 0 {
		return problem.Invalid(errs...)
	}
	hash, err := store.HashPassword(*req.Password)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	var u store.User
	err = s.Store.InTx(ctx, func(q *store.Queries) error {
		var err error
		u, err = q.CreateUser(ctx, store.CreateUserParams{Email: email, Name: name, PasswordHash: hash, IsAdmin: req.IsAdmin != nil && *req.IsAdmin})
		if _, ok := store.IsUniqueViolation(err); ok {
			return problem.Conflict(fmt.Sprintf("a user with email %q already exists", email))
		}
		if err != nil {
			return err
		}
		return audit(ctx, q, caller(c), "user.create", "user", u.ID.String(), uuid.Nil, map[string]any{"email": email, "is_admin": u.IsAdmin})
	})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, userOut(u.ID, u.Email, u.Name, u.IsAdmin, u.DisabledAt != nil, u.CreatedAt))
}

// Settings whose values are checked.
var numericSettings = map[string]bool{"max_apps_per_org": true, "max_deployments_per_hour": true, "loki_retention_days": true,
	"domain_recheck_minutes": true, "max_domains_per_app": true,
	"build_timeout_seconds": true, "build_concurrency": true, "build_log_max_bytes": true, "build_context_max_mb": true,
	"retention_events_days": true, "retention_audit_days": true, "retention_releases_per_app": true, "retention_release_logs_days": true,
	build.SettingCacheTTLHours: true, build.SettingCacheMaxSizeMB: true}

// clearSettings are read in clear by paasd (the API or the loops); sealed,
// they would silently stop applying, so they are never stored sensitive.
func clearSettings(key string) bool {
	switch key {
	case settingAllowedRegistries, "default_domain", "traefik_acme_email", build.SettingCacheEnabled, build.SettingDefaultStack,
		spec.SettingAllowFileGitURLs:
		return true
	}
	return numericSettings[key]
}

// checkTextSetting says what is wrong with a value of a setting whose text
// has a shape (a domain, an email), or "" when it is right or free text.
// What reaches a Traefik label or config must never carry its syntax.
func checkTextSetting(key, v string) string {
	switch key {
	case "default_domain":
		if v == "" {
			return ""
		}
		h, err := spec.Hostname(v)
		if err != nil {
			return "must be a domain such as apps.example.com (or empty for none): it " + err.Error()
		}
		if h != v {
			return fmt.Sprintf("must be written as %s (lower case, punycode, no trailing dot)", h)
		}
	case spec.SettingAllowFileGitURLs:
		if v != "" && v != "true" && v != "false" {
			return "must be true or false"
		}
	case build.SettingCacheEnabled:
		if v != "true" && v != "false" {
			return "must be true or false"
		}
	case build.SettingDefaultStack:
		if _, ok := build.Families[v]; !ok && v != "" {
			return fmt.Sprintf("must name a family of base images: one of %s (or empty for %s)", strings.Join(build.FamilyNames(), ", "), build.DefaultFamily)
		}
	case "traefik_acme_email":
		if v == "" {
			return ""
		}
		if a, err := mail.ParseAddress(v); err != nil || a.Address != v || a.Name != "" || strings.ContainsAny(v, " \t\r\n\"'`") {
			return "must be a plain email address such as ops@example.com (or empty)"
		}
	}
	return ""
}

// readOnlySettings are managed by paasd itself.
var readOnlySettings = map[string]bool{"installation_id": true, store.FingerprintKeySetting: true}

var settingKey = regexp.MustCompile(`^[a-z][a-z0-9_]{0,63}$`)

func sensitiveKey(key string) bool {
	for _, suf := range []string{"_secret", "_token", "_password", "_key"} {
		if strings.HasSuffix(key, suf) {
			return true
		}
	}
	return strings.Contains(key, "join_token")
}

func settingOut(st store.Setting) openapi.Setting {
	out := openapi.Setting{Key: st.Key, Sensitive: st.Sensitive, UpdatedAt: st.UpdatedAt}
	if st.Sensitive {
		out.HasValue = len(st.ValueEncrypted) > 0
	} else {
		out.Value, out.HasValue = st.Value, st.Value != nil
	}
	return out
}

// AdminListSettings answers a page of settings, by key; sensitive values
// are redacted.
func (s *server) AdminListSettings(c echo.Context, params openapi.AdminListSettingsParams) error {
	limit, err := pageLimit(params.Limit)
	if err != nil {
		return err
	}
	after, err := decodeCursor(params.Cursor)
	if err != nil {
		return err
	}
	rows, err := s.Store.APIListSettings(c.Request().Context(), store.APIListSettingsParams{AfterKey: after, Lim: int32(limit + 1)})
	if err != nil {
		return err
	}
	items, next, err := page(rows, limit,
		func(st store.Setting) (openapi.Setting, error) { return settingOut(st), nil },
		func(st store.Setting) string { return st.Key })
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, openapi.SettingList{Items: items, NextCursor: next})
}

type settingInput struct {
	Key       *string `json:"key"`
	Value     *string `json:"value"`
	Sensitive *bool   `json:"sensitive"`
}

type putSettingsRequest struct {
	Settings []settingInput `json:"settings"`
}

// AdminPutSettings writes settings in one transaction.
func (s *server) AdminPutSettings(c echo.Context) error {
	var req putSettingsRequest
	if err := readJSON(c, &req); err != nil {
		return err
	}
	var errs []problem.FieldError
	if req.Settings == nil {
		errs = append(errs, fe("settings", "is required"))
	}
	if len(req.Settings) > 100 {
		errs = append(errs, fe("settings", "at most 100 settings at once"))
	}
	seen := map[string]bool{}
	for i, in := range req.Settings {
		field := fmt.Sprintf("settings[%d]", i)
		switch {
		case in.Key == nil || !settingKey.MatchString(*in.Key):
			errs = append(errs, fe(field+".key", "must match [a-z][a-z0-9_]* (at most 64 characters)"))
			continue
		case readOnlySettings[*in.Key]:
			errs = append(errs, fe(field+".key", *in.Key+" is managed by paasd and cannot be set"))
		case seen[*in.Key]:
			errs = append(errs, fe(field+".key", *in.Key+" is listed twice"))
		}
		seen[*in.Key] = true
		if in.Value == nil {
			errs = append(errs, fe(field+".value", "is required"))
			continue
		}
		v := *in.Value
		if len(v) > 64<<10 || strings.IndexByte(v, 0) >= 0 {
			errs = append(errs, fe(field+".value", "must be text without NUL bytes, at most 64 KiB"))
		}
		if numericSettings[*in.Key] {
			if n, err := strconv.ParseInt(v, 10, 64); err != nil || n < 0 || n > 1_000_000 {
				errs = append(errs, fe(field+".value", "must be a whole number between 0 and 1000000"))
			}
		}
		if msg := checkTextSetting(*in.Key, v); msg != "" {
			errs = append(errs, fe(field+".value", msg))
		}
		if *in.Key == settingAllowedRegistries {
			if _, bad := parseRegistries(v); len(bad) > 0 {
				errs = append(errs, fe(field+".value", fmt.Sprintf("must be registry hosts (ghcr.io, registry.example.com:5000), comma-separated; not %q", bad[0])))
			}
		}
	}
	if len(errs) > 0 {
		return problem.Invalid(errs...)
	}
	ctx := c.Request().Context()
	err := s.Store.InTx(ctx, func(q *store.Queries) error {
		for _, in := range req.Settings {
			key, value := *in.Key, *in.Value
			sensitive := (in.Sensitive != nil && *in.Sensitive) || sensitiveKey(key)
			if prev, err := q.GetSetting(ctx, key); err == nil && prev.Sensitive {
				sensitive = true
			} else if err != nil && !store.IsNotFound(err) {
				return err
			}
			if sensitive && clearSettings(key) {
				// The API reads these in clear; sealed, a limit would
				// silently stop applying.
				sensitive = false
			}
			p := store.PutSettingParams{Key: key, Sensitive: sensitive}
			if sensitive {
				sealed, err := s.Box.Seal([]byte(value), secret.SettingAD(key))
				if err != nil {
					return err
				}
				p.ValueEncrypted = sealed
			} else {
				p.Value = &value
			}
			if err := q.PutSetting(ctx, p); err != nil {
				return err
			}
			details := map[string]any{"sensitive": sensitive}
			if !sensitive {
				details["value"] = value
			}
			if err := audit(ctx, q, caller(c), "setting.put", "setting", key, uuid.Nil, details); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	// The settings written, not every setting: an answer bounded by the
	// request (at most 100), as every list is.
	keys := make([]string, len(req.Settings))
	for i, in := range req.Settings {
		keys[i] = *in.Key
	}
	sts, err := s.Store.APIGetSettings(ctx, keys)
	if err != nil {
		return err
	}
	out := openapi.SettingList{Items: make([]openapi.Setting, 0, len(sts))}
	for _, st := range sts {
		out.Items = append(out.Items, settingOut(st))
	}
	return c.JSON(http.StatusOK, out)
}

// AdminListAudit answers a page of the audit log, newest first.
func (s *server) AdminListAudit(c echo.Context, params openapi.AdminListAuditParams) error {
	ctx := c.Request().Context()
	limit, err := pageLimit(params.Limit)
	if err != nil {
		return err
	}
	before, _, err := decodeIntCursor(params.Cursor)
	if err != nil {
		return err
	}
	p := store.APIListAuditParams{BeforeID: before, Lim: int32(limit + 1)}
	if params.Organization != nil && *params.Organization != "" {
		o, err := findOrganization(ctx, s.Store.Queries, *params.Organization)
		if err != nil {
			return err
		}
		p.OrganizationID = uuid.NullUUID{UUID: o.ID, Valid: true}
	}
	if params.Actor != nil {
		p.ActorUserID = uuid.NullUUID{UUID: *params.Actor, Valid: true}
	}
	if params.Action != nil {
		if !dbText(*params.Action) || len(*params.Action) > 128 {
			return problem.Malformed("", fe("action", "is not an action name"))
		}
		p.Action = *params.Action
	}
	rows, err := s.Store.APIListAudit(ctx, p)
	if err != nil {
		return err
	}
	items, next, err := page(rows, limit, auditOut,
		func(r store.APIListAuditRow) string { return strconv.FormatInt(r.ID, 10) })
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, openapi.AuditList{Items: items, NextCursor: next})
}

// auditOut renders an audit entry; unreadable details show as none.
func auditOut(r store.APIListAuditRow) (openapi.AuditEntry, error) {
	e := openapi.AuditEntry{Id: r.ID, Action: r.Action, TargetKind: r.TargetKind, TargetId: r.TargetID,
		ActorEmail: r.ActorEmail, CreatedAt: r.CreatedAt, Details: map[string]any{}}
	if r.ActorUserID.Valid {
		id := r.ActorUserID.UUID
		e.ActorUserId = &id
	}
	if r.OrganizationID.Valid {
		id := r.OrganizationID.UUID
		e.OrganizationId = &id
	}
	_ = json.Unmarshal(r.Details, &e.Details)
	return e, nil
}
