package v1

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/skypanel/paas/api/openapi"
	"github.com/skypanel/paas/api/problem"
	"github.com/skypanel/paas/store"
)

func appNotFound(ident string) *problem.Problem {
	return problem.NotFound(fmt.Sprintf("app %q not found", ident))
}

// answerApp re-reads an app and answers it with its ETag.
func (s *server) answerApp(c echo.Context, code int, id uuid.UUID) error {
	app, err := s.getAppView(c, id.String())
	if err != nil {
		return err
	}
	c.Response().Header().Set("ETag", etagOf(app.Version))
	return c.JSON(code, app)
}

// getAppView reads one app of the request's organization, rendered for
// the caller's role.
func (s *server) getAppView(c echo.Context, ident string) (openapi.App, error) {
	id, name := identOf(ident)
	o := org(c)
	ctx := c.Request().Context()
	row, err := s.Store.APIGetApp(ctx, store.APIGetAppParams{OrganizationID: o.ID, ID: id, Name: name})
	if store.IsNotFound(err) {
		return openapi.App{}, appNotFound(ident)
	}
	if err != nil {
		return openapi.App{}, err
	}
	rt, err := loadRoutes(ctx, s.Store.Queries, []store.AppView{row})
	if err != nil {
		return openapi.App{}, err
	}
	return s.appRenderer(o.Role, rt)(row)
}

// GetApp answers one app.
func (s *server) GetApp(c echo.Context, ident openapi.AppPath, _ openapi.GetAppParams) error {
	app, err := s.getAppView(c, ident)
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
		if spec.Image != "" && !hasField(errs, "spec.image") {
			ierrs, err := checkImageAllowed(ctx, q, o.Slug, "spec.image", spec.Image)
			if err != nil {
				return err
			}
			errs = append(errs, ierrs...)
		}
		if spec.Source != nil {
			allowFile, err := allowFileGitURLs(ctx, q)
			if err != nil {
				return err
			}
			errs = append(errs, checkSource("spec.source.", spec.Source, allowFile)...)
		}
		if len(errs) == 0 {
			derrs, err := checkDomainRules(ctx, q, spec.Domains, spec.Domains, "spec.domains")
			if err != nil {
				return err
			}
			errs = append(errs, derrs...)
		}
		if len(errs) > 0 {
			return invalid(errs, plan)
		}
		spec.Plan = plan
		if _, err := q.APILockOrganization(ctx, o.ID); err != nil {
			return err
		}
		if err := s.checkFunds(ctx, q, o.ID, uuid.Nil, true, hourlyCost(spec.desired), hourlyCost(spec.desired) > 0); err != nil {
			return err
		}
		if _, err := q.GetAppByName(ctx, store.GetAppByNameParams{OrganizationID: o.ID, Name: name}); err == nil {
			return problem.Conflict(fmt.Sprintf("an app named %q already exists in this organization (perhaps still being deleted)", name))
		} else if !store.IsNotFound(err) {
			return err
		}
		max, err := store.IntSetting(ctx, q, "max_apps_per_org", 25)
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
		if err := writeDomains(ctx, q, app.ID, change{DomainsAdd: spec.Domains}); err != nil {
			return err
		}
		details := map[string]any{"name": name, "image": spec.Image, "plan": plan.Name, "replicas": spec.Replicas,
			"env_set": sortedKeys(spec.Env), "domains": spec.Domains}
		if src := spec.Source; src != nil {
			// Built from source: no image until the first build, queued
			// now, succeeds (the app loop waits for it: AwaitingBuild).
			// The push webhook's secret is made by PUT …/source or
			// POST …/source/webhook-secret, which can answer it.
			if _, err := q.UpsertAppSource(ctx, store.UpsertAppSourceParams{AppID: app.ID, GitUrl: src.Git.URL, GitRef: src.Git.Ref,
				GitPath: src.Git.Path, Dockerfile: src.Dockerfile, Builder: src.Builder}); err != nil {
				return err
			}
			b, err := store.QueueBuildIn(ctx, q, app.ID, src.Git.Ref, "api")
			if err != nil {
				return err
			}
			details["source"], details["build"] = src.Git.URL+"@"+src.Git.Ref, b.Number
		}
		return audit(ctx, q, p, "app.create", "app", app.ID.String(), o.ID, details)
	})
	if err != nil {
		return err
	}
	c.Response().Header().Set("Location", "/api/paas/apps/"+app.ID.String())
	return s.answerApp(c, http.StatusCreated, app.ID)
}

// appFields are the app object's fields besides spec; a patch may not set them.
var appFields = map[string]bool{"id": true, "name": true, "organization_id": true, "version": true,
	"restart_count": true, "env_redacted": true, "status": true, "created_at": true, "updated_at": true, "deleted_at": true}

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
			if spec.Source != nil || cur.Image == "" && spec.Image == "" {
				// The source has its own route; an app awaiting its first
				// build has no image to require.
				errs = slices.DeleteFunc(errs, func(e problem.FieldError) bool { return e.Field == "spec.image" || e.Field == "spec.source" })
			}
			if _, ok := specPatch.(map[string]any)["source"]; ok {
				errs = append(errs, fe("spec.source", "is set with PUT /api/paas/apps/{app}/source, not in a patch"))
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
