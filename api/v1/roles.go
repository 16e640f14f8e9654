package v1

import (
	"fmt"

	"github.com/labstack/echo/v4"

	"github.com/skypanel/paas/api/openapi"
	"github.com/skypanel/paas/api/problem"
)

// Roles of a member in its organization (paas_memberships.role).
const (
	roleOwner  = "owner"
	roleMember = "member"
	roleViewer = "viewer"
)

// roles lists every role, for validation messages.
var roles = []string{roleOwner, roleMember, roleViewer}

// mayWrite reports whether a role may change its organization's apps.
// Only those may read env values too: a value is a secret its writers
// chose, and reading one is as good as holding the credential it is.
func mayWrite(role string) bool { return role == roleOwner || role == roleMember }

// requireWriter refuses a write under /api/paas to a caller who may only
// read (a viewer), before the handler runs, so no write path can forget it.
func requireWriter(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if o := org(c); !mayWrite(o.Role) {
			return problem.Forbidden(fmt.Sprintf("you are a %s of organization %q: viewers read but change nothing", o.Role, o.Slug))
		}
		return next(c)
	}
}

// requireEnvReader refuses an answer made of env values that cannot be
// shown redacted (the dotenv export) to a caller who may not write them.
func requireEnvReader(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if o := org(c); !mayWrite(o.Role) {
			return problem.Forbidden(fmt.Sprintf("you are a %s of organization %q: viewers cannot read env values (GET …/env lists the keys)", o.Role, o.Slug))
		}
		return next(c)
	}
}

// envAnswer is the env of an app as the caller of role may see it: every
// value for those who may write them, the keys with empty values, marked
// redacted, for the rest.
func envAnswer(role string, env map[string]string) openapi.EnvVars {
	if mayWrite(role) {
		return openapi.EnvVars{Env: env}
	}
	redacted := true
	return openapi.EnvVars{Env: redactEnv(env), Redacted: &redacted}
}

// redactEnv keeps the keys of env, without values.
func redactEnv(env map[string]string) map[string]string {
	out := make(map[string]string, len(env))
	for k := range env {
		out[k] = ""
	}
	return out
}
