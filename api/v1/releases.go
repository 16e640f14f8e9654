package v1

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/skypanel/paas/api/openapi"
	"github.com/skypanel/paas/api/problem"
	"github.com/skypanel/paas/store"
	"github.com/skypanel/paas/store/secret"
)

// findApp reads an app of the request's organization without locking it.
func (s *server) findApp(c echo.Context, ident string) (store.App, error) {
	id, name := identOf(ident)
	app, err := s.Store.APIFindApp(c.Request().Context(), store.APIFindAppParams{OrganizationID: org(c).ID, ID: id, Name: name})
	if store.IsNotFound(err) {
		return app, appNotFound(ident)
	}
	return app, err
}

// deploymentRow is the common shape of APIGetDeployment and APIListDeployments.
type deploymentRow = store.APIGetDeploymentRow

func renderDeployment(d deploymentRow) openapi.Deployment {
	var rs store.ReleaseSpec
	_ = json.Unmarshal(d.Spec, &rs) // a snapshot the API cannot read still lists its columns
	plan := rs.PlanName
	if d.PlanName != nil {
		plan = *d.PlanName
	}
	var hc *openapi.HealthCheck
	if rs.HealthCheck != nil {
		hc = &openapi.HealthCheck{Path: ptrIf(rs.HealthCheck.Path), IntervalSeconds: ptrIf(rs.HealthCheck.IntervalSeconds),
			TimeoutSeconds: ptrIf(rs.HealthCheck.TimeoutSeconds), Retries: ptrIf(rs.HealthCheck.Retries),
			StartPeriodSeconds: ptrIf(rs.HealthCheck.StartPeriodSeconds)}
		if len(rs.HealthCheck.Command) > 0 {
			cmd := slices.Clone(rs.HealthCheck.Command)
			hc.Command = &cmd
		}
	}
	keys := sortedKeys(rs.Env)
	cmd := rs.Command
	if cmd == nil {
		cmd = []string{}
	}
	var rollbackOf *int
	if d.RollbackOf != nil {
		v := int(*d.RollbackOf)
		rollbackOf = &v
	}
	image := cmp.Or(rs.Image, d.Image)
	var built *openapi.ReleaseBuild
	if d.BuildNumber > 0 {
		built = &openapi.ReleaseBuild{Number: d.BuildNumber, Ref: d.BuildRef, CommitSha: deref(d.BuildCommitSha),
			DurationMs: d.BuildDurationMs, Trigger: d.BuildTrigger}
	}
	return openapi.Deployment{
		Build: built,
		Id:    d.ID, AppId: d.AppID, Version: int(d.Version), Generation: d.Generation, Image: d.Image,
		ImageResolved: d.ImageResolved, Status: openapi.DeploymentStatus(d.Status), Message: d.Message,
		RollbackOf: rollbackOf, StartedAt: d.StartedAt, DeadlineAt: d.DeadlineAt, FinishedAt: d.FinishedAt,
		CreatedAt: d.CreatedAt,
		Spec:      openapi.ReleaseSpec{Image: image, Command: cmd, Port: int(rs.Port), Plan: plan, HealthCheck: hc, EnvKeys: keys},
	}
}

func ptrIf[T comparable](v T) *T {
	var zero T
	if v == zero {
		return nil
	}
	return &v
}

// ListDeployments answers a page of the app's releases, newest first.
func (s *server) ListDeployments(c echo.Context, ident openapi.AppPath, params openapi.ListDeploymentsParams) error {
	limit, err := pageLimit(params.Limit)
	if err != nil {
		return err
	}
	before, ok, err := decodeIntCursor(params.Cursor)
	if err != nil {
		return err
	}
	if !ok || before > 1<<31-1 {
		before = 1<<31 - 1
	}
	app, err := s.findApp(c, ident)
	if err != nil {
		return err
	}
	rows, err := s.Store.APIListDeployments(c.Request().Context(), store.APIListDeploymentsParams{
		AppID: app.ID, BeforeVersion: int32(before), Lim: int32(limit + 1)})
	if err != nil {
		return err
	}
	items, next, err := page(rows, limit,
		func(r store.APIListDeploymentsRow) (openapi.Deployment, error) {
			return renderDeployment(deploymentRow(r)), nil
		},
		func(r store.APIListDeploymentsRow) string { return strconv.Itoa(int(r.Version)) })
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, openapi.DeploymentList{Items: items, NextCursor: next})
}

func (s *server) findDeployment(c echo.Context, ident, dep string) (deploymentRow, error) {
	app, err := s.findApp(c, ident)
	if err != nil {
		return deploymentRow{}, err
	}
	p := store.APIGetDeploymentParams{AppID: app.ID}
	if id, err := uuid.Parse(dep); err == nil {
		p.ID = id
	} else if v, err := strconv.ParseInt(dep, 10, 32); err == nil && v > 0 {
		p.Version = int32(v)
	} else {
		return deploymentRow{}, problem.NotFound(fmt.Sprintf("release %q not found: name it by id or version number", dep))
	}
	d, err := s.Store.APIGetDeployment(c.Request().Context(), p)
	if store.IsNotFound(err) {
		return d, problem.NotFound(fmt.Sprintf("release %q of app %q not found", dep, app.Name))
	}
	return d, err
}

// GetDeployment answers one release.
func (s *server) GetDeployment(c echo.Context, ident openapi.AppPath, dep openapi.DeploymentPath, _ openapi.GetDeploymentParams) error {
	d, err := s.findDeployment(c, ident, dep)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, renderDeployment(d))
}

// GetDeploymentLogs answers a release's rollout log as text.
func (s *server) GetDeploymentLogs(c echo.Context, ident openapi.AppPath, dep openapi.DeploymentPath, _ openapi.GetDeploymentLogsParams) error {
	d, err := s.findDeployment(c, ident, dep)
	if err != nil {
		return err
	}
	return c.String(http.StatusOK, d.Log)
}

type deployRequest struct {
	Image *string `json:"image"`
	Ref   *string `json:"ref"`
}

// CreateDeployment sets a new image, and the reconciler cuts the release;
// or, with ref, queues a build of the app's source (deploysource.go).
func (s *server) CreateDeployment(c echo.Context, ident openapi.AppPath, _ openapi.CreateDeploymentParams) error {
	var req deployRequest
	if err := readJSON(c, &req); err != nil {
		return err
	}
	switch {
	case req.Image != nil && req.Ref != nil:
		return problem.Invalid(fe("image", "is exclusive with ref: send image for an app that runs an image, ref for an app built from source"),
			fe("ref", "is exclusive with image"))
	case req.Ref != nil:
		if errs := checkRef("ref", *req.Ref); len(errs) > 0 {
			return problem.Invalid(errs...)
		}
		return s.deployRef(c, ident, *req.Ref)
	case req.Image == nil:
		return problem.Invalid(fe("image", "is required (or ref, for an app built from source)"))
	}
	if errs := checkImage("image", *req.Image); len(errs) > 0 {
		return problem.Invalid(errs...)
	}
	image := *req.Image
	id, _, err := s.mutateApp(c, ident, mutation{action: "app.deploy", details: map[string]any{"image": image}, imageField: "image",
		apply: func(ctx context.Context, q *store.Queries, app store.App, d desired) (desired, []problem.FieldError, error) {
			// Refused even when the image is the one the app runs: the
			// request names the wrong kind of deployment.
			if err := refuseSourceImage(ctx, q, app, "image"); err != nil {
				return d, nil, err
			}
			d.Image = image
			return d, nil, nil
		}})
	if err != nil {
		return err
	}
	return s.answerApp(c, http.StatusAccepted, id)
}

type rollbackRequest struct {
	Version *int64 `json:"version"`
}

// RollbackApp restores an earlier release's spec and env.
func (s *server) RollbackApp(c echo.Context, ident openapi.AppPath, _ openapi.RollbackAppParams) error {
	var req rollbackRequest
	if err := readJSON(c, &req); err != nil {
		return err
	}
	switch {
	case req.Version == nil:
		return problem.Invalid(fe("version", "is required"))
	case *req.Version < 1 || *req.Version > 1<<31-1:
		return problem.Invalid(fe("version", "must be a release version (1, 2, ...)"))
	}
	version := int32(*req.Version)
	id, _, err := s.mutateApp(c, ident, mutation{action: "app.rollback", details: map[string]any{"version": version}, imageField: "version",
		imageFromRelease: true,
		apply: func(ctx context.Context, q *store.Queries, app store.App, d desired) (desired, []problem.FieldError, error) {
			dep, err := q.GetDeploymentByVersion(ctx, store.GetDeploymentByVersionParams{AppID: app.ID, Version: version})
			if store.IsNotFound(err) {
				return d, nil, problem.NotFound(fmt.Sprintf("app %q has no release %d", app.Name, version))
			}
			if err != nil {
				return d, nil, err
			}
			var rs store.ReleaseSpec
			if err := json.Unmarshal(dep.Spec, &rs); err != nil {
				return d, nil, problem.Conflict(fmt.Sprintf("release %d has no snapshot to restore", version))
			}
			planID, err := uuid.Parse(rs.PlanID)
			if err != nil {
				return d, nil, problem.Conflict(fmt.Sprintf("release %d has no plan to restore", version))
			}
			plan, err := q.GetPlan(ctx, planID)
			if store.IsNotFound(err) {
				return d, nil, problem.Conflict(fmt.Sprintf("the plan of release %d (%s) no longer exists", version, rs.PlanName))
			}
			if err != nil {
				return d, nil, err
			}
			env := make(map[string]string, len(rs.Env))
			for k, sealed := range rs.Env {
				clear, err := s.Box.Open(sealed, secret.EnvAD(app.ID, k))
				if err != nil {
					return d, nil, fmt.Errorf("open env %s of release %d: %w", k, version, err)
				}
				env[k] = string(clear)
			}
			if d.Replicas > plan.MaxReplicas {
				return d, nil, problem.Conflict(fmt.Sprintf("release %d ran on plan %q, which allows at most %d replicas; the app has %d: scale it down first",
					version, plan.Name, plan.MaxReplicas, d.Replicas))
			}
			d.Image, d.Port, d.Plan, d.HealthCheck, d.Env = rs.Image, rs.Port, plan, rs.HealthCheck, env
			d.Command = slices.Clone(rs.Command)
			if d.Command == nil {
				d.Command = []string{}
			}
			return d, nil, nil
		}})
	if err != nil {
		return err
	}
	return s.answerApp(c, http.StatusAccepted, id)
}
