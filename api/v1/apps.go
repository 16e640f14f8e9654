package v1

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/labstack/echo/v4"
	"github.com/sqlc-dev/pqtype"

	"github.com/skypanel/paas/api/openapi"
	"github.com/skypanel/paas/api/problem"
	"github.com/skypanel/paas/store"
)

// desired is an app's spec in Go terms, env in clear.
type desired struct {
	Image       string
	Replicas    int32
	Port        int32
	Command     []string
	Plan        store.Plan
	HealthCheck *store.HealthCheck
	Stopped     bool
	Env         map[string]string
}

func (d desired) clone() desired {
	d.Command = slices.Clone(d.Command)
	d.Env = maps.Clone(d.Env)
	if d.HealthCheck != nil {
		hc := *d.HealthCheck
		hc.Command = slices.Clone(hc.Command)
		d.HealthCheck = &hc
	}
	return d
}

// specDoc is the spec as the API shows it, the base of merge patches.
func (d desired) specDoc() map[string]any {
	env := make(map[string]any, len(d.Env))
	for k, v := range d.Env {
		env[k] = v
	}
	doc := map[string]any{
		"image": d.Image, "replicas": d.Replicas, "port": d.Port, "env": env,
		"command": d.Command, "plan": d.Plan.Name, "stopped": d.Stopped,
	}
	if d.HealthCheck != nil {
		doc["health_check"] = d.HealthCheck
	}
	return doc
}

func healthCheckJSON(hc *store.HealthCheck) pqtype.NullRawMessage {
	if hc == nil {
		return pqtype.NullRawMessage{}
	}
	b, _ := json.Marshal(hc)
	return pqtype.NullRawMessage{RawMessage: b, Valid: true}
}

// change is what a write alters.
type change struct {
	Fields  []string // spec fields changed, for the audit log
	Spec    bool     // a paas_apps spec column changed
	Release bool     // a release-relevant field changed: the write cuts a release
	EnvSet  map[string]string
	EnvDel  []string
}

func (ch change) empty() bool { return len(ch.Fields) == 0 }

func diffDesired(cur, next desired) change {
	var ch change
	mark := func(field string, spec, release bool) {
		ch.Fields = append(ch.Fields, field)
		ch.Spec = ch.Spec || spec
		ch.Release = ch.Release || release
	}
	if cur.Image != next.Image {
		mark("image", true, true)
	}
	if cur.Replicas != next.Replicas {
		mark("replicas", true, false)
	}
	if cur.Port != next.Port {
		mark("port", true, true)
	}
	if !slices.Equal(cur.Command, next.Command) {
		mark("command", true, true)
	}
	if cur.Plan.ID != next.Plan.ID {
		mark("plan", true, true)
	}
	if !bytes.Equal(healthCheckJSON(cur.HealthCheck).RawMessage, healthCheckJSON(next.HealthCheck).RawMessage) {
		mark("health_check", true, true)
	}
	if cur.Stopped != next.Stopped {
		mark("stopped", true, false)
	}
	for k, v := range next.Env {
		if old, ok := cur.Env[k]; !ok || old != v {
			if ch.EnvSet == nil {
				ch.EnvSet = map[string]string{}
			}
			ch.EnvSet[k] = v
		}
	}
	for k := range cur.Env {
		if _, ok := next.Env[k]; !ok {
			ch.EnvDel = append(ch.EnvDel, k)
		}
	}
	slices.Sort(ch.EnvDel)
	if len(ch.EnvSet) > 0 || len(ch.EnvDel) > 0 {
		mark("env", false, true)
	}
	return ch
}

// identOf splits an app (or plan, organization) identifier into the id it
// may be and the name it may be.
func identOf(s string) (uuid.UUID, string) {
	if !dbText(s) {
		// Postgres refuses such text; "" matches no name.
		return uuid.Nil, ""
	}
	if id, err := uuid.Parse(s); err == nil {
		return id, s
	}
	return uuid.Nil, s
}

// dbText reports whether Postgres accepts s as text: valid UTF-8, no NUL.
// Strings from paths, queries and headers are checked before they reach a
// query, so odd bytes answer 4xx, never 500.
func dbText(s string) bool {
	return utf8.ValidString(s) && strings.IndexByte(s, 0) < 0
}

// loadDesired reads an app's spec with its plan and opened env.
func (s *server) loadDesired(ctx context.Context, q *store.Queries, app store.App) (desired, error) {
	plan, err := q.GetPlan(ctx, app.PlanID)
	if err != nil {
		return desired{}, fmt.Errorf("plan of app %s: %w", app.ID, err)
	}
	hc, err := store.ParseHealthCheck(app.HealthCheck.RawMessage)
	if err != nil {
		return desired{}, err
	}
	vars, err := q.ListEnvVars(ctx, app.ID)
	if err != nil {
		return desired{}, err
	}
	env := make(map[string]string, len(vars))
	for _, v := range vars {
		clear, err := s.Box.Open(v.ValueEncrypted)
		if err != nil {
			return desired{}, fmt.Errorf("env %s of app %s: %w", v.Key, app.ID, err)
		}
		env[v.Key] = string(clear)
	}
	return desired{
		Image: app.Image, Replicas: app.Replicas, Port: app.Port, Command: slices.Clone(app.Command),
		Plan: plan, HealthCheck: hc, Stopped: app.Stopped, Env: env,
	}, nil
}

// resolvePlan finds a plan by name (the default plan for ""); an inactive
// plan is refused unless the app already runs on it.
func resolvePlan(ctx context.Context, q *store.Queries, name string, current uuid.UUID) (store.Plan, []problem.FieldError, error) {
	var plan store.Plan
	var err error
	if name == "" {
		plan, err = q.APIDefaultPlan(ctx)
		if store.IsNotFound(err) {
			return plan, []problem.FieldError{fe("spec.plan", "no plan is offered: ask an administrator to create one")}, nil
		}
	} else {
		plan, err = q.APIGetPlan(ctx, store.APIGetPlanParams{ID: uuid.Nil, Name: name})
		if store.IsNotFound(err) {
			return plan, []problem.FieldError{fe("spec.plan", fmt.Sprintf("no plan is named %q (GET /api/paas/plans lists them)", name))}, nil
		}
	}
	if err != nil {
		return plan, nil, err
	}
	if !plan.Active && plan.ID != current {
		return plan, []problem.FieldError{fe("spec.plan", fmt.Sprintf("plan %q is no longer offered", plan.Name))}, nil
	}
	return plan, nil, nil
}

// checkReplicas enforces the plan's max_replicas.
func checkReplicas(field string, replicas int32, plan store.Plan) []problem.FieldError {
	if replicas > plan.MaxReplicas {
		return []problem.FieldError{fe(field, fmt.Sprintf("plan %q allows at most %d replicas", plan.Name, plan.MaxReplicas))}
	}
	return nil
}

// invalid builds the 422 for field errors, naming the plan limit when the
// replica count is what broke it.
func invalid(errs []problem.FieldError, plan store.Plan) *problem.Problem {
	p := problem.Invalid(errs...)
	for _, e := range errs {
		if strings.HasSuffix(e.Field, "replicas") && strings.Contains(e.Message, "allows at most") {
			v := int64(plan.MaxReplicas)
			p.Limit, p.LimitValue = "plan.max_replicas", &v
		}
	}
	return p
}

// intSetting reads a numeric setting; missing or empty means def, 0 means
// no limit.
func intSetting(ctx context.Context, q *store.Queries, key string, def int64) (int64, error) {
	st, err := q.GetSetting(ctx, key)
	if store.IsNotFound(err) {
		return def, nil
	}
	if err != nil {
		return 0, err
	}
	if st.Value == nil || strings.TrimSpace(*st.Value) == "" {
		return def, nil
	}
	n, err := strconv.ParseInt(strings.TrimSpace(*st.Value), 10, 64)
	if err != nil || n < 0 {
		return def, nil
	}
	return n, nil
}

// takeDeploySlot records a write that asks for a new release, or refuses
// it when the organization has asked for max_deployments_per_hour in the
// last hour. Requests are counted, not releases: the reconciler cuts those
// later, and a burst of writes must not get through before it does. The
// organization's slots are taken one transaction at a time.
func (s *server) takeDeploySlot(ctx context.Context, q *store.Queries, orgID uuid.UUID) error {
	max, err := intSetting(ctx, q, "max_deployments_per_hour", 60)
	if err != nil || max == 0 {
		return err
	}
	if err := q.APILockDeployBudget(ctx, orgID); err != nil {
		return err
	}
	now := s.Now()
	since := now.Add(-time.Hour)
	if err := q.APIPruneDeployRequests(ctx, store.APIPruneDeployRequestsParams{OrganizationID: orgID, Before: since}); err != nil {
		return err
	}
	r, err := q.APIDeployRequestsSince(ctx, store.APIDeployRequestsSinceParams{OrganizationID: orgID, Since: since})
	if err != nil {
		return err
	}
	if r.N >= max {
		p := problem.LimitExceeded(http.StatusTooManyRequests, "max_deployments_per_hour", max, r.N,
			fmt.Sprintf("the organization has asked for %d deployments in the last hour, the limit is %d; nothing was changed", r.N, max))
		p.RetryAfter = max0(r.Oldest.Add(time.Hour).Sub(now), time.Second)
		return p
	}
	return q.APIRecordDeployRequest(ctx, store.APIRecordDeployRequestParams{OrganizationID: orgID, RequestedAt: now})
}

func max0(d, floor time.Duration) time.Duration {
	if d < floor {
		return floor
	}
	return d
}

func suspendedProblem() *problem.Problem {
	return problem.New(http.StatusForbidden, problem.TypeSuspended, "Organization suspended",
		"the organization is suspended (empty wallet): it cannot deploy, start or scale up until its wallet is topped up")
}

// mutation describes one write of an app's spec.
type mutation struct {
	// action names the write in the audit log (app.update, app.scale, ...).
	action string
	// ifMatch, when set, is the version the client read (If-Match).
	ifMatch string
	// restart asks for a rolling restart besides the spec change.
	restart bool
	// apply computes the next spec from the current one; field errors
	// answer 422, a returned error as it is.
	apply func(ctx context.Context, q *store.Queries, app store.App, cur desired) (desired, []problem.FieldError, error)
	// details are added to the audit entry.
	details map[string]any
}

// mutateApp runs one spec write in a transaction holding the app's row
// lock: validate, enforce limits, write spec and env, audit. A refused
// write changes nothing. It returns the app's id and its spec after the
// write.
func (s *server) mutateApp(c echo.Context, ident string, m mutation) (uuid.UUID, desired, error) {
	ctx := c.Request().Context()
	o, p := org(c), caller(c)
	var appID uuid.UUID
	var out desired
	err := s.Store.InTx(ctx, func(q *store.Queries) error {
		app, err := lockApp(ctx, q, o.ID, ident)
		if err != nil {
			return err
		}
		appID = app.ID
		if m.ifMatch != "" && !etagMatches(m.ifMatch, app.Version) {
			return problem.New(http.StatusPreconditionFailed, problem.TypePreconditionFailed, "Precondition failed",
				fmt.Sprintf("the app is at version %d, not the one named by If-Match (%s); read it again", app.Version, m.ifMatch))
		}
		if app.DeletedAt != nil {
			return problem.Conflict("the app is being deleted")
		}
		cur, err := s.loadDesired(ctx, q, app)
		if err != nil {
			return err
		}
		next, errs, err := m.apply(ctx, q, app, cur.clone())
		if err != nil {
			return err
		}
		if len(errs) > 0 {
			return invalid(errs, next.Plan)
		}
		out = next
		ch := diffDesired(cur, next)
		if ch.empty() && !m.restart {
			return nil
		}
		scalingUp := next.Replicas > cur.Replicas || (cur.Stopped && !next.Stopped)
		if o.Suspended && (ch.Release || scalingUp || m.restart) {
			return suspendedProblem()
		}
		if ch.Release {
			if err := s.takeDeploySlot(ctx, q, o.ID); err != nil {
				return err
			}
		}
		if ch.Spec {
			_, err := q.UpdateAppSpec(ctx, store.UpdateAppSpecParams{
				ID: app.ID, Version: app.Version, Image: next.Image, Replicas: next.Replicas, Port: next.Port,
				Command: next.Command, PlanID: next.Plan.ID, HealthCheck: healthCheckJSON(next.HealthCheck), Stopped: next.Stopped,
			})
			if store.IsNotFound(err) {
				return problem.Conflict("the app changed while it was being written; try again")
			}
			if err != nil {
				return err
			}
		}
		if err := s.writeEnv(ctx, q, app.ID, ch); err != nil {
			return err
		}
		if m.restart {
			if _, err := q.BumpAppRestart(ctx, app.ID); err != nil {
				return err
			}
		}
		details := map[string]any{"name": app.Name}
		if len(ch.Fields) > 0 {
			details["changed"] = ch.Fields
		}
		if len(ch.EnvSet) > 0 {
			details["env_set"] = sortedKeys(ch.EnvSet)
		}
		if len(ch.EnvDel) > 0 {
			details["env_removed"] = ch.EnvDel
		}
		maps.Copy(details, m.details)
		return audit(ctx, q, p, m.action, "app", app.ID.String(), o.ID, details)
	})
	return appID, out, err
}

// writeEnv applies an env change; values are sealed first.
func (s *server) writeEnv(ctx context.Context, q *store.Queries, appID uuid.UUID, ch change) error {
	for _, k := range sortedKeys(ch.EnvSet) {
		sealed, err := s.Box.Seal([]byte(ch.EnvSet[k]))
		if err != nil {
			return err
		}
		if err := q.UpsertEnvVar(ctx, store.UpsertEnvVarParams{AppID: appID, Key: k, ValueEncrypted: sealed}); err != nil {
			return err
		}
	}
	for _, k := range ch.EnvDel {
		if _, err := q.DeleteEnvVar(ctx, store.DeleteEnvVarParams{AppID: appID, Key: k}); err != nil {
			return err
		}
	}
	return nil
}

func lockApp(ctx context.Context, q *store.Queries, orgID uuid.UUID, ident string) (store.App, error) {
	id, name := identOf(ident)
	app, err := q.APILockApp(ctx, store.APILockAppParams{OrganizationID: orgID, ID: id, Name: name})
	if store.IsNotFound(err) {
		return app, appNotFound(ident)
	}
	return app, err
}

func appNotFound(ident string) *problem.Problem {
	return problem.NotFound(fmt.Sprintf("app %q not found", ident))
}

func etagOf(version int64) string { return `"` + strconv.FormatInt(version, 10) + `"` }

// etagMatches compares an If-Match header with the app's version; it
// accepts "N", W/"N", N and *.
func etagMatches(header string, version int64) bool {
	for _, tag := range strings.Split(header, ",") {
		tag = strings.TrimSpace(tag)
		if tag == "*" {
			return true
		}
		tag = strings.Trim(strings.TrimPrefix(tag, "W/"), `"`)
		if tag == strconv.FormatInt(version, 10) {
			return true
		}
	}
	return false
}

// answerApp re-reads an app and answers it with its ETag.
func (s *server) answerApp(c echo.Context, code int, id uuid.UUID) error {
	app, err := s.getAppView(c.Request().Context(), org(c).ID, id.String())
	if err != nil {
		return err
	}
	c.Response().Header().Set("ETag", etagOf(app.Version))
	return c.JSON(code, app)
}

func (s *server) getAppView(ctx context.Context, orgID uuid.UUID, ident string) (openapi.App, error) {
	id, name := identOf(ident)
	row, err := s.Store.APIGetApp(ctx, store.APIGetAppParams{OrganizationID: orgID, ID: id, Name: name})
	if store.IsNotFound(err) {
		return openapi.App{}, appNotFound(ident)
	}
	if err != nil {
		return openapi.App{}, err
	}
	return s.renderApp(appView(row))
}

// ListApps answers a page of the organization's apps, by name. Pages are
// reused while the organization's fingerprint is unchanged (see listCache).
func (s *server) ListApps(c echo.Context, params openapi.ListAppsParams) error {
	limit, err := pageLimit(params.Limit)
	if err != nil {
		return err
	}
	after, err := decodeCursor(params.Cursor)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	orgID := org(c).ID
	key := listKey{org: orgID, after: after, limit: limit}
	now := s.Now()
	if e, ok := s.lists.current(key, s.fresh, now, s.CacheRecheck); ok {
		return e.write(c)
	}
	if s.lists == nil {
		e, err := s.renderPage(ctx, key, now)
		if err != nil {
			return err
		}
		return e.write(c)
	}
	// The fingerprint came with the credentials, in the same round trip,
	// unless they were cached; then it is read, unless the page is known
	// to be stale already.
	p := caller(c)
	if p.appsFP == nil && s.lists.superseded(key, s.fresh) {
		e, err := s.renderShared(ctx, key, now)
		if err != nil {
			return err
		}
		return e.write(c)
	}
	var fp store.APIAppsFingerprintRow
	var read stamp
	if p.appsFP != nil {
		fp, read = *p.appsFP, p.appsRead
	} else {
		read = s.fresh.now()
		if fp, err = s.Store.APIAppsFingerprint(ctx, orgID); err != nil {
			return err
		}
	}
	if e, ok := s.lists.confirmed(key, fp, read, now); ok {
		return e.write(c)
	}
	e, err := s.renderShared(ctx, key, now)
	if err != nil {
		return err
	}
	return e.write(c)
}

// renderShared renders key's page once for all the requests that miss it
// together: after a change, every client of the organization misses at
// once, and rendering the page for each would multiply the cost by the
// number of clients. A request takes a shared render's page if the render
// read after the request arrived, or if nothing the page shows was
// announced since it read; so it is as fresh as reading on arrival (within
// notification latency, as for any cached answer). Otherwise it waits for
// the next render, which starts after it arrived. Without notifications
// there is no telling, and each request renders its own.
func (s *server) renderShared(ctx context.Context, key listKey, now time.Time) (*listEntry, error) {
	arrived := s.fresh.now()
	if !arrived.valid {
		return s.renderPage(ctx, key, now)
	}
	flight := fmt.Sprintf("%s/%d/%s", key.org, key.limit, key.after)
	for range 3 {
		v, err, _ := s.renders.Do(flight, func() (any, error) {
			// Shared: one client leaving must not fail the others.
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
			defer cancel()
			return s.renderPage(rctx, key, now)
		})
		if err != nil {
			return nil, err
		}
		if e := v.(*listEntry); s.fresh.freshFor(e.read, arrived, key.org) {
			return e, nil
		}
	}
	// Everything keeps being invalidated (the listener reconnecting, writes
	// through this process): read alone.
	return s.renderPage(ctx, key, now)
}

// renderPage renders a page and its fingerprint from one snapshot, so the
// pair kept in the cache is consistent, and keeps it.
func (s *server) renderPage(ctx context.Context, key listKey, now time.Time) (*listEntry, error) {
	var rows []store.APIListAppsRow
	var fp store.APIAppsFingerprintRow
	listParams := store.APIListAppsParams{OrganizationID: key.org, AfterName: key.after, Lim: int32(key.limit + 1)}
	read := s.fresh.now()
	var err error
	if s.lists == nil {
		// Nothing is kept, so no fingerprint is needed.
		rows, err = s.Store.APIListApps(ctx, listParams)
	} else {
		err = pgx.BeginTxFunc(ctx, s.Store.Pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
			q := s.Store.WithTx(tx)
			var err error
			if fp, err = q.APIAppsFingerprint(ctx, key.org); err != nil {
				return err
			}
			rows, err = q.APIListApps(ctx, listParams)
			return err
		})
	}
	if err != nil {
		return nil, err
	}
	out := openapi.AppList{Items: make([]openapi.App, 0, min(len(rows), key.limit))}
	for i, r := range rows {
		if i == key.limit {
			out.NextCursor = encodeCursor(rows[i-1].App.Name)
			break
		}
		a, err := s.renderApp(appView(r))
		if err != nil {
			return nil, err
		}
		out.Items = append(out.Items, a)
	}
	body, err := json.Marshal(out)
	if err != nil {
		return nil, err
	}
	if s.lists != nil {
		s.lists.renders.Add(1)
	}
	return s.lists.put(key, fp, append(body, '\n'), read, now), nil
}

// GetApp answers one app.
func (s *server) GetApp(c echo.Context, ident openapi.AppPath, _ openapi.GetAppParams) error {
	app, err := s.getAppView(c.Request().Context(), org(c).ID, ident)
	if err != nil {
		return err
	}
	c.Response().Header().Set("ETag", etagOf(app.Version))
	return c.JSON(http.StatusOK, app)
}

type createAppRequest struct {
	Name *string         `json:"name"`
	Spec json.RawMessage `json:"spec"`
}

// CreateApp declares a new app.
func (s *server) CreateApp(c echo.Context, _ openapi.CreateAppParams) error {
	var req createAppRequest
	if err := readJSON(c, &req); err != nil {
		return err
	}
	var errs []problem.FieldError
	name := ""
	if req.Name == nil {
		errs = append(errs, fe("name", "is required"))
	} else {
		name = *req.Name
		errs = append(errs, checkName("name", name)...)
	}
	var spec parsedSpec
	if len(req.Spec) == 0 || string(bytes.TrimSpace(req.Spec)) == "null" {
		errs = append(errs, fe("spec", "is required"))
	} else {
		var serrs []problem.FieldError
		var err error
		spec, serrs, err = parseSpec(req.Spec)
		if err != nil {
			return err
		}
		errs = append(errs, serrs...)
	}
	ctx := c.Request().Context()
	o, p := org(c), caller(c)
	var app store.App
	err := s.Store.InTx(ctx, func(q *store.Queries) error {
		plan, perrs, err := resolvePlan(ctx, q, spec.PlanName, uuid.Nil)
		if err != nil {
			return err
		}
		errs = append(errs, perrs...)
		if len(perrs) == 0 {
			errs = append(errs, checkReplicas("spec.replicas", spec.Replicas, plan)...)
		}
		if len(errs) > 0 {
			return invalid(errs, plan)
		}
		spec.Plan = plan
		locked, err := q.APILockOrganization(ctx, o.ID)
		if err != nil {
			return err
		}
		if locked.Suspended {
			return suspendedProblem()
		}
		if _, err := q.GetAppByName(ctx, store.GetAppByNameParams{OrganizationID: o.ID, Name: name}); err == nil {
			return problem.Conflict(fmt.Sprintf("an app named %q already exists in this organization (perhaps still being deleted)", name))
		} else if !store.IsNotFound(err) {
			return err
		}
		max, err := intSetting(ctx, q, "max_apps_per_org", 25)
		if err != nil {
			return err
		}
		if max > 0 {
			n, err := q.CountOrganizationApps(ctx, o.ID)
			if err != nil {
				return err
			}
			if n >= max {
				return problem.LimitExceeded(http.StatusForbidden, "max_apps_per_org", max, n,
					fmt.Sprintf("the organization has %d apps, the limit is %d; delete one first", n, max))
			}
		}
		if err := s.takeDeploySlot(ctx, q, o.ID); err != nil {
			return err
		}
		app, err = q.APICreateApp(ctx, store.APICreateAppParams{
			OrganizationID: o.ID, Name: name, ServiceName: store.ServiceNameFor(o.Slug, name),
			Image: spec.Image, Replicas: spec.Replicas, Port: spec.Port, Command: spec.Command,
			PlanID: plan.ID, HealthCheck: healthCheckJSON(spec.HealthCheck), Stopped: spec.Stopped,
		})
		if err != nil {
			if _, ok := store.IsUniqueViolation(err); ok {
				return problem.Conflict(fmt.Sprintf("an app named %q already exists in this organization", name))
			}
			return err
		}
		if err := s.writeEnv(ctx, q, app.ID, change{EnvSet: spec.Env}); err != nil {
			return err
		}
		return audit(ctx, q, p, "app.create", "app", app.ID.String(), o.ID, map[string]any{
			"name": name, "image": spec.Image, "plan": plan.Name, "replicas": spec.Replicas, "env_set": sortedKeys(spec.Env)})
	})
	if err != nil {
		return err
	}
	c.Response().Header().Set("Location", "/api/paas/apps/"+app.ID.String())
	return s.answerApp(c, http.StatusCreated, app.ID)
}

// appFields are the app object's fields besides spec; a patch may not set them.
var appFields = map[string]bool{"id": true, "name": true, "organization_id": true, "version": true,
	"restart_count": true, "status": true, "created_at": true, "updated_at": true, "deleted_at": true}

// PatchApp applies a JSON merge patch to the app's spec.
func (s *server) PatchApp(c echo.Context, ident openapi.AppPath, params openapi.PatchAppParams) error {
	if err := requireJSONMediaType(c); err != nil {
		return err
	}
	body, err := readBody(c)
	if err != nil {
		return err
	}
	var top map[string]json.RawMessage
	if err := decodeStrict(body, &top, ""); err != nil {
		return err
	}
	var errs []problem.FieldError
	for _, k := range sortedKeys(top) {
		switch {
		case k == "spec":
		case appFields[k]:
			errs = append(errs, fe(k, "cannot be changed: only spec is written by clients"))
		default:
			return problem.Malformed("the body has an unknown field", fe(k, "unknown field"))
		}
	}
	if len(errs) > 0 {
		return problem.Invalid(errs...)
	}
	var specPatch any
	if raw, ok := top["spec"]; ok {
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber()
		if err := dec.Decode(&specPatch); err != nil {
			return jsonProblem(err, "spec.")
		}
		if specPatch == nil {
			return problem.Invalid(fe("spec", "cannot be null"))
		}
		if _, ok := specPatch.(map[string]any); !ok {
			return problem.Malformed("", fe("spec", "must be a JSON object"))
		}
	}
	ifMatch := ""
	if params.IfMatch != nil {
		ifMatch = *params.IfMatch
	}
	id, _, err := s.mutateApp(c, ident, mutation{action: "app.update", ifMatch: ifMatch,
		apply: func(ctx context.Context, q *store.Queries, app store.App, cur desired) (desired, []problem.FieldError, error) {
			if specPatch == nil {
				return cur, nil, nil
			}
			base, err := roundTrip(cur.specDoc())
			if err != nil {
				return cur, nil, err
			}
			merged, err := json.Marshal(mergePatch(base, specPatch))
			if err != nil {
				return cur, nil, err
			}
			spec, errs, err := parseSpec(merged)
			if err != nil {
				return cur, nil, err
			}
			plan, perrs, err := resolvePlan(ctx, q, spec.PlanName, app.PlanID)
			if err != nil {
				return cur, nil, err
			}
			errs = append(errs, perrs...)
			if len(perrs) == 0 {
				errs = append(errs, checkReplicas("spec.replicas", spec.Replicas, plan)...)
			}
			spec.Plan = plan
			return spec.desired, errs, nil
		}})
	if err != nil {
		return err
	}
	return s.answerApp(c, http.StatusOK, id)
}

// roundTrip turns a Go value into its generic JSON form (numbers as json.Number).
func roundTrip(v any) (any, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var out any
	err = dec.Decode(&out)
	return out, err
}

// mergePatch applies an RFC 7386 JSON merge patch to target.
func mergePatch(target, patch any) any {
	pm, ok := patch.(map[string]any)
	if !ok {
		return patch
	}
	tm, ok := target.(map[string]any)
	out := make(map[string]any, len(tm)+len(pm))
	if ok {
		maps.Copy(out, tm)
	}
	for k, v := range pm {
		if v == nil {
			delete(out, k)
			continue
		}
		out[k] = mergePatch(out[k], v)
	}
	return out
}

// DeleteApp marks the app deleted; the reconciler removes its service and
// then the row. Repeating it is harmless.
func (s *server) DeleteApp(c echo.Context, ident openapi.AppPath, _ openapi.DeleteAppParams) error {
	ctx := c.Request().Context()
	o, p := org(c), caller(c)
	var id uuid.UUID
	err := s.Store.InTx(ctx, func(q *store.Queries) error {
		app, err := lockApp(ctx, q, o.ID, ident)
		if err != nil {
			return err
		}
		id = app.ID
		if app.DeletedAt != nil {
			return nil
		}
		if _, err := q.MarkAppDeleted(ctx, app.ID); err != nil {
			return err
		}
		return audit(ctx, q, p, "app.delete", "app", app.ID.String(), o.ID, map[string]any{"name": app.Name})
	})
	if err != nil {
		return err
	}
	return s.answerApp(c, http.StatusAccepted, id)
}

type scaleRequest struct {
	Replicas *int64 `json:"replicas"`
}

// ScaleApp sets the replica count.
func (s *server) ScaleApp(c echo.Context, ident openapi.AppPath, _ openapi.ScaleAppParams) error {
	var req scaleRequest
	if err := readJSON(c, &req); err != nil {
		return err
	}
	switch {
	case req.Replicas == nil:
		return problem.Invalid(fe("replicas", "is required"))
	case *req.Replicas < 0 || *req.Replicas > maxReplicas:
		return problem.Invalid(fe("replicas", fmt.Sprintf("must be between 0 and %d", maxReplicas)))
	}
	n := int32(*req.Replicas)
	id, _, err := s.mutateApp(c, ident, mutation{action: "app.scale", details: map[string]any{"replicas": n},
		apply: func(_ context.Context, _ *store.Queries, _ store.App, d desired) (desired, []problem.FieldError, error) {
			d.Replicas = n
			return d, checkReplicas("replicas", n, d.Plan), nil
		}})
	if err != nil {
		return err
	}
	return s.answerApp(c, http.StatusAccepted, id)
}

func (s *server) setStopped(c echo.Context, ident string, stopped bool, action string) error {
	id, _, err := s.mutateApp(c, ident, mutation{action: action,
		apply: func(_ context.Context, _ *store.Queries, _ store.App, d desired) (desired, []problem.FieldError, error) {
			d.Stopped = stopped
			return d, nil, nil
		}})
	if err != nil {
		return err
	}
	return s.answerApp(c, http.StatusAccepted, id)
}

// StopApp stops the app, keeping its replica count.
func (s *server) StopApp(c echo.Context, ident openapi.AppPath, _ openapi.StopAppParams) error {
	return s.setStopped(c, ident, true, "app.stop")
}

// StartApp starts a stopped app.
func (s *server) StartApp(c echo.Context, ident openapi.AppPath, _ openapi.StartAppParams) error {
	return s.setStopped(c, ident, false, "app.start")
}

// RestartApp asks for a rolling restart.
func (s *server) RestartApp(c echo.Context, ident openapi.AppPath, _ openapi.RestartAppParams) error {
	id, _, err := s.mutateApp(c, ident, mutation{action: "app.restart", restart: true,
		apply: func(_ context.Context, _ *store.Queries, _ store.App, d desired) (desired, []problem.FieldError, error) {
			if d.Stopped {
				return d, nil, problem.Conflict("the app is stopped: start it instead")
			}
			return d, nil, nil
		}})
	if err != nil {
		return err
	}
	return s.answerApp(c, http.StatusAccepted, id)
}
