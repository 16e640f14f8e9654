package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"golang.org/x/crypto/bcrypt"
)

// SeedAdminResult says what SeedAdmin found or made.
type SeedAdminResult struct {
	// User is the administrator.
	User User
	// Organization is the administrator's own organization.
	Organization Organization
	// Created is true when this call created the user.
	Created bool
}

// SeedAdmin makes sure a platform administrator with this email exists and
// owns an organization, so a fresh install can deploy at once. It is
// idempotent: an existing user keeps its password and is only promoted.
func (s *Store) SeedAdmin(ctx context.Context, email, password string) (SeedAdminResult, error) {
	email = strings.ToLower(strings.TrimSpace(email))
	if !strings.Contains(email, "@") || strings.HasPrefix(email, "@") {
		return SeedAdminResult{}, fmt.Errorf("admin email %q is not an email address", email)
	}
	if len(password) < 8 {
		return SeedAdminResult{}, errors.New("admin password must be at least 8 characters")
	}
	var res SeedAdminResult
	err := s.InTx(ctx, func(q *Queries) error {
		user, err := q.GetUserByEmail(ctx, email)
		switch {
		case IsNotFound(err):
			hash, herr := HashPassword(password)
			if herr != nil {
				return herr
			}
			user, err = q.CreateUser(ctx, CreateUserParams{Email: email, Name: "Administrator", PasswordHash: hash, IsAdmin: true})
			if err != nil {
				return fmt.Errorf("create admin: %w", err)
			}
			res.Created = true
		case err != nil:
			return fmt.Errorf("look up admin: %w", err)
		case !user.IsAdmin:
			if _, err := q.db.Exec(ctx, "UPDATE paas_users SET is_admin = true, updated_at = now() WHERE id = $1", user.ID); err != nil {
				return fmt.Errorf("promote admin: %w", err)
			}
			user.IsAdmin = true
		}
		res.User = user

		orgs, err := q.ListUserOrganizations(ctx, user.ID)
		if err != nil {
			return fmt.Errorf("list admin organizations: %w", err)
		}
		for _, o := range orgs {
			if o.Role == "owner" {
				res.Organization = Organization{ID: o.ID, Name: o.Name, Slug: o.Slug, Suspended: o.Suspended, CreatedAt: o.CreatedAt, UpdatedAt: o.UpdatedAt}
				return nil
			}
		}
		org, err := q.CreateOrganization(ctx, CreateOrganizationParams{Name: email, Slug: uniqueSlug(email)})
		if err != nil {
			return fmt.Errorf("create admin organization: %w", err)
		}
		if err := q.AddMembership(ctx, AddMembershipParams{OrganizationID: org.ID, UserID: user.ID, Role: "owner"}); err != nil {
			return fmt.Errorf("add admin membership: %w", err)
		}
		res.Organization = org
		return nil
	})
	return res, err
}

// HashPassword hashes a password with bcrypt at the default cost.
func HashPassword(password string) (string, error) {
	if len(password) > 72 {
		return "", errors.New("password must be at most 72 bytes")
	}
	h, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.DefaultCost)
	if err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	return string(h), nil
}

// CheckPassword reports whether password matches a hash made by HashPassword.
func CheckPassword(hash, password string) bool {
	return bcrypt.CompareHashAndPassword([]byte(hash), []byte(password)) == nil
}

var nonSlug = regexp.MustCompile(`[^a-z0-9]+`)

// uniqueSlug derives an organization slug from an email's local part, with
// a random suffix so two admins named alike never collide.
func uniqueSlug(email string) string {
	local := strings.Trim(nonSlug.ReplaceAllString(strings.SplitN(email, "@", 2)[0], "-"), "-")
	if len(local) > 24 {
		local = strings.Trim(local[:24], "-")
	}
	if local == "" {
		local = "org"
	}
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	return local + "-" + hex.EncodeToString(b)
}

// InstallationID returns this installation's id, creating it on first use.
// Every Swarm object the platform makes carries it, so garbage collection
// never touches another installation's services.
func (s *Store) InstallationID(ctx context.Context) (string, error) {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	id, err := s.InsertSettingIfAbsent(ctx, InsertSettingIfAbsentParams{Key: "installation_id", Value: ptr("i" + hex.EncodeToString(b))})
	if err != nil {
		return "", fmt.Errorf("installation id: %w", err)
	}
	if id == nil || *id == "" {
		return "", errors.New("installation id: empty value stored")
	}
	return *id, nil
}

func ptr[T any](v T) *T { return &v }
