package v1

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/skypanel/paas/api/openapi"
	"github.com/skypanel/paas/api/problem"
	"github.com/skypanel/paas/store"
	"github.com/skypanel/paas/store/secret"
)

// appRenderer is how apps are rendered for a caller of role: the API's app
// object from its view row (every app read of the API selects
// paas_app_view) and rt (loadRoutes of the rows), env values opened for
// callers who may write the app, keys only for the rest.
func (s *server) appRenderer(role string, rt routes) func(store.AppView) (openapi.App, error) {
	return s.renderer(mayWrite(role), rt)
}

// renderer renders apps with env values opened or not (viewers, the admin
// listing).
func (s *server) renderer(open bool, rt routes) func(store.AppView) (openapi.App, error) {
	return func(a store.AppView) (openapi.App, error) { return s.renderAppEnv(a, open, rt) }
}

func (s *server) renderAppEnv(a store.AppView, open bool, rt routes) (openapi.App, error) {
	env, err := s.appEnv(a, open)
	if err != nil {
		return openapi.App{}, err
	}
	var hc *openapi.HealthCheck
	if a.HealthCheck.Valid && len(a.HealthCheck.RawMessage) > 0 && string(a.HealthCheck.RawMessage) != "null" {
		hc = new(openapi.HealthCheck)
		if err := json.Unmarshal(a.HealthCheck.RawMessage, hc); err != nil {
			return openapi.App{}, fmt.Errorf("health check of app %s: %w", a.ID, err)
		}
	}
	conds := []openapi.Condition{}
	if len(a.Conditions) > 0 {
		if err := json.Unmarshal(a.Conditions, &conds); err != nil {
			s.log.Warn().Err(err).Str("app", a.ID.String()).Msg("unreadable conditions")
			conds = []openapi.Condition{}
		}
	}
	urls := rt.urls(a, conds)
	domains := slices.Clone(a.Hostnames)
	if domains == nil {
		domains = []string{}
	}
	slices.Sort(domains)
	var current *openapi.DeploymentRef
	if a.CurrentDeploymentID.Valid && a.CurrentVersion != nil {
		current = &openapi.DeploymentRef{Id: a.CurrentDeploymentID.UUID, Version: int(*a.CurrentVersion),
			Status: deref(a.CurrentStatus), Image: deref(a.CurrentImage)}
	}
	phase := a.Phase
	if a.DeletedAt != nil {
		phase = "Deleting"
	}
	cmd := a.Command
	if cmd == nil {
		cmd = []string{}
	}
	return openapi.App{
		Id: a.ID, Name: a.Name, OrganizationId: a.OrganizationID, Version: a.Version, RestartCount: a.RestartCount,
		Spec: openapi.AppSpec{
			Image: a.Image, Replicas: int(a.Replicas), Port: int(a.Port), Env: env, Command: cmd,
			Plan: a.PlanName, HealthCheck: hc, Stopped: a.Stopped, Domains: domains,
		},
		Status: openapi.AppStatus{
			Phase: phase, Generation: a.Generation, ObservedGeneration: a.ObservedGeneration,
			RunningReplicas: int(a.RunningReplicas), UpdatedReplicas: int(a.UpdatedReplicas), DesiredReplicas: int(a.DesiredReplicas),
			Conditions: conds, Message: a.StatusMessage, CurrentDeployment: current, Urls: urls, StatusSeq: a.StatusSeq,
		},
		EnvRedacted: redactedFlag(!open), CreatedAt: a.CreatedAt, UpdatedAt: a.UpdatedAt, DeletedAt: a.DeletedAt,
	}, nil
}

// appEnv is the app's env: values opened, or empty when not open.
func (s *server) appEnv(a store.AppView, open bool) (map[string]string, error) {
	env := make(map[string]string, len(a.EnvKeys))
	for i, k := range a.EnvKeys {
		if !open {
			env[k] = ""
			continue
		}
		if i >= len(a.EnvValues) {
			break
		}
		clear, err := s.Box.Open(a.EnvValues[i], secret.EnvAD(a.ID, k))
		if err != nil {
			return nil, fmt.Errorf("open env %s of app %s: %w", k, a.ID, err)
		}
		env[k] = string(clear)
	}
	return env, nil
}

// redactedFlag is the env_redacted field: present only when true.
func redactedFlag(redacted bool) *bool {
	if !redacted {
		return nil
	}
	return &redacted
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

func sortedKeys[M ~map[string]V, V any](m M) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// Pagination: limit 1..500 (default 100); cursors are opaque base64url
// strings of the last item's sort key.
const (
	defaultPageLimit = 100
	maxPageLimit     = 500
)

func pageLimit(p *int) (int, error) {
	if p == nil {
		return defaultPageLimit, nil
	}
	if *p < 1 || *p > maxPageLimit {
		return 0, problem.Malformed("", fe("limit", fmt.Sprintf("must be between 1 and %d", maxPageLimit)))
	}
	return *p, nil
}

func encodeCursor(key string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(key))
}

func decodeCursor(p *string) (string, error) {
	if p == nil || *p == "" {
		return "", nil
	}
	b, err := base64.RawURLEncoding.DecodeString(*p)
	if err != nil || len(b) > 512 || !dbText(string(b)) {
		return "", problem.Malformed("", fe("cursor", "is not a cursor this API gave"))
	}
	return string(b), nil
}

// decodeIntCursor decodes a cursor holding an integer key.
func decodeIntCursor(p *string) (int64, bool, error) {
	s, err := decodeCursor(p)
	if err != nil || s == "" {
		return 0, false, err
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, false, problem.Malformed("", fe("cursor", "is not a cursor this API gave"))
	}
	return n, true, nil
}

// timeIDKey is the sort key of lists ordered by creation: (time, id).
func timeIDKey(t time.Time, id uuid.UUID) string {
	return strconv.FormatInt(t.UnixMicro(), 10) + "|" + id.String()
}

// decodeTimeIDCursor decodes a cursor holding a timeIDKey; without one it
// answers a key before every row.
func decodeTimeIDCursor(p *string) (time.Time, uuid.UUID, error) {
	cur, err := decodeCursor(p)
	if err != nil || cur == "" {
		return time.Unix(0, 0).UTC(), uuid.Nil, err
	}
	ts, id, ok := strings.Cut(cur, "|")
	n, err1 := strconv.ParseInt(ts, 10, 64)
	uid, err2 := uuid.Parse(id)
	if !ok || err1 != nil || err2 != nil {
		return time.Time{}, uuid.Nil, problem.Malformed("", fe("cursor", "is not a cursor this API gave"))
	}
	return time.UnixMicro(n).UTC(), uid, nil
}

// audit records a write in paas_audit_log, in the write's transaction.
func audit(ctx context.Context, q *store.Queries, p *principal, action, kind, target string, orgID uuid.UUID, details map[string]any) error {
	if details == nil {
		details = map[string]any{}
	}
	b, err := json.Marshal(details)
	if err != nil {
		return err
	}
	return q.InsertAudit(ctx, store.InsertAuditParams{
		ActorUserID: uuid.NullUUID{UUID: p.UserID, Valid: p.UserID != uuid.Nil}, Action: action,
		TargetKind: kind, TargetID: target, OrganizationID: uuid.NullUUID{UUID: orgID, Valid: orgID != uuid.Nil},
		Details: b,
	})
}

func planOut(p store.Plan) openapi.Plan {
	return openapi.Plan{Id: p.ID, Name: p.Name, DisplayName: p.DisplayName, CpuMillis: int(p.CpuMillis),
		MemoryMb: int(p.MemoryMb), MaxReplicas: int(p.MaxReplicas), PriceHourlyMicros: p.PriceHourlyMicros,
		Active: p.Active, CreatedAt: p.CreatedAt, UpdatedAt: p.UpdatedAt}
}
