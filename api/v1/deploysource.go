package v1

// Deployments of apps built from source: POST …/deployments {"ref": …},
// the cancel of such a deployment, and the removal of a source.
//
// Image and source are exclusive. An app with a source (a row in
// paas_app_sources) has its image written by its builds only: the build
// runner writes each built image's digest reference into the app's spec
// (SetAppBuiltImage), and a rollback may restore the image of an earlier
// release (an image a build made). Every other write that would set the
// image — POST …/deployments {"image": …}, PATCH spec.image — answers 409
// naming the two ways on (deploy a ref, or DELETE …/source first) and
// changes nothing. An app without source cannot be deployed by ref (409:
// PUT …/source first). Builds, whatever asked for them (POST …/builds,
// POST …/deployments {"ref"}, a push webhook), take a slot of the
// organization's max_deployments_per_hour in the transaction that queues
// them, as image deployments do.

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"unicode"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/skypanel/paas/api/openapi"
	"github.com/skypanel/paas/api/problem"
	"github.com/skypanel/paas/store"
)

// maxRefLen bounds a git ref a client may name.
const maxRefLen = 255

// checkRef refuses what cannot be a branch, tag or commit sha (git
// check-ref-format's rules, loosely): it is given to git as it is.
func checkRef(field, ref string) []problem.FieldError {
	switch {
	case ref == "":
		return []problem.FieldError{fe(field, "must not be empty: name a branch, tag or commit sha")}
	case len(ref) > maxRefLen:
		return []problem.FieldError{fe(field, fmt.Sprintf("must be at most %d characters", maxRefLen))}
	case strings.HasPrefix(ref, "-") || strings.HasPrefix(ref, "/") || strings.HasSuffix(ref, "/") ||
		strings.HasSuffix(ref, ".") || strings.HasSuffix(ref, ".lock") ||
		strings.Contains(ref, "..") || strings.Contains(ref, "@{") || strings.Contains(ref, "//"):
		return []problem.FieldError{fe(field, fmt.Sprintf("%q is not a valid git ref", ref))}
	}
	for _, r := range ref {
		if unicode.IsSpace(r) || unicode.IsControl(r) || strings.ContainsRune("~^:?*[\\", r) {
			return []problem.FieldError{fe(field, fmt.Sprintf("%q is not a valid git ref: it must not contain spaces, control characters or any of ~ ^ : ? * [ \\", ref))}
		}
	}
	return nil
}

func noSource(app store.App) *problem.Problem {
	return problem.Conflict(fmt.Sprintf("app %q has no source to build: deploy an image ({\"image\": …}), or give it one first (PUT /api/paas/apps/%s/source, or source: in paasctl apply)",
		app.Name, app.Name))
}

// refuseSourceImage refuses a write of the image of an app that is built
// from source; field is the request field that names the image.
func refuseSourceImage(ctx context.Context, q *store.Queries, app store.App, field string) error {
	src, err := q.GetAppSource(ctx, app.ID)
	if store.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	p := problem.Conflict(fmt.Sprintf("app %q is built from source (%s at %s): its image is written by its builds only. Deploy a ref instead ({\"ref\": %q}, paasctl deploy %s --ref %s), or remove the source first (DELETE /api/paas/apps/%s/source) to run an image; nothing was changed",
		app.Name, src.GitUrl, src.GitRef, src.GitRef, app.Name, src.GitRef, app.Name))
	p.Errors = []problem.FieldError{fe(field, "cannot be set on an app built from source")}
	return p
}

// queueBuild queues a build of the app's source at ref (the source's ref
// when empty) in one transaction with the organization's deploy slot: a
// refused build leaves no row and takes no slot.
func (s *server) queueBuild(c echo.Context, ident, ref, action string) (store.App, store.PaasBuild, error) {
	ctx := c.Request().Context()
	o, p := org(c), caller(c)
	var app store.App
	var b store.PaasBuild
	err := s.Store.InTx(ctx, func(q *store.Queries) error {
		var err error
		if app, err = lockApp(ctx, q, o.ID, ident); err != nil {
			return err
		}
		if app.DeletedAt != nil {
			return problem.Conflict("the app is being deleted")
		}
		src, err := q.GetAppSource(ctx, app.ID)
		if store.IsNotFound(err) {
			return noSource(app)
		}
		if err != nil {
			return err
		}
		if ref == "" {
			ref = src.GitRef
		}
		cur, err := s.loadDesired(ctx, q, app)
		if err != nil {
			return err
		}
		// A build ends in a release: held to the wallet as a deployment is.
		if err := s.checkFunds(ctx, q, o.ID, app.ID, true, hourlyCost(cur), false); err != nil {
			return err
		}
		if err := s.takeDeploySlot(ctx, q, o.ID); err != nil {
			return err
		}
		if b, err = store.QueueBuildIn(ctx, q, app.ID, ref, "api"); err != nil {
			return err
		}
		return audit(ctx, q, p, action, "app", app.ID.String(), o.ID, map[string]any{"name": app.Name, "ref": ref, "build": b.Number})
	})
	return app, b, err
}

// queueWebhookBuild queues a build asked for by a signed push webhook,
// taking a slot of the app's organization's max_deployments_per_hour in
// the same transaction: over the limit it answers 429 and queues nothing.
func (s *server) queueWebhookBuild(ctx context.Context, appID uuid.UUID, ref string) (store.PaasBuild, error) {
	var b store.PaasBuild
	err := s.Store.InTx(ctx, func(q *store.Queries) error {
		app, err := q.GetApp(ctx, appID)
		if err != nil {
			return err
		}
		if app.DeletedAt != nil {
			return problem.Conflict("the app is being deleted")
		}
		if err := s.takeDeploySlot(ctx, q, app.OrganizationID); err != nil {
			return err
		}
		b, err = store.QueueBuildIn(ctx, q, appID, ref, "webhook")
		return err
	})
	return b, err
}

// deployRef answers POST …/deployments {"ref": …}: the queued build.
func (s *server) deployRef(c echo.Context, ident, ref string) error {
	app, b, err := s.queueBuild(c, ident, ref, "app.deploy")
	if err != nil {
		return err
	}
	c.Response().Header().Set("Location", fmt.Sprintf("/api/paas/apps/%s/builds/%d", app.ID, b.Number))
	return c.JSON(http.StatusAccepted, renderBuild(b))
}

// findBuildOf finds a build of an app by id or number (a deployment from
// source is named by its build).
func (s *server) findBuildOf(c echo.Context, ident, name string) (store.PaasBuild, error) {
	app, err := s.findApp(c, ident)
	if err != nil {
		return store.PaasBuild{}, err
	}
	ctx := c.Request().Context()
	var b store.PaasBuild
	if id, perr := uuid.Parse(name); perr == nil {
		b, err = s.Store.GetBuildOfApp(ctx, store.GetBuildOfAppParams{AppID: app.ID, ID: id})
	} else if n, perr := strconv.ParseInt(name, 10, 32); perr == nil && n > 0 {
		b, err = s.Store.GetBuildByNumber(ctx, store.GetBuildByNumberParams{AppID: app.ID, Number: int32(n)})
	} else {
		return b, problem.NotFound(fmt.Sprintf("deployment %q not found: name a build of the app by its id or number", name))
	}
	if store.IsNotFound(err) {
		return b, problem.NotFound(fmt.Sprintf("app %q has no build %q", app.Name, name))
	}
	return b, err
}

// cancelBuildRow cancels a queued build at once, or asks the runner of a
// running one to stop it; a build that already ended answers 409.
func (s *server) cancelBuildRow(c echo.Context, b store.PaasBuild) error {
	ended := func(b store.PaasBuild) error {
		return problem.Conflict(fmt.Sprintf("build %d already ended: %s; there is nothing to cancel", b.Number, b.Status))
	}
	if buildDone(b.Status) {
		return ended(b)
	}
	ctx := c.Request().Context()
	o, p := org(c), caller(c)
	err := s.Store.InTx(ctx, func(q *store.Queries) error {
		var err error
		if b, err = q.RequestBuildCancel(ctx, store.RequestBuildCancelParams{AppID: b.AppID, Number: b.Number}); err != nil {
			return err
		}
		if buildDone(b.Status) && b.Status != "cancelled" {
			return ended(b) // it ended between the read and the cancel
		}
		return audit(ctx, q, p, "build.cancel", "app", b.AppID.String(), o.ID, map[string]any{"build": b.Number, "status": b.Status})
	})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusAccepted, renderBuild(b))
}

// CancelDeployment cancels a deployment from source while it is built.
func (s *server) CancelDeployment(c echo.Context, ident openapi.AppPath, dep string, _ openapi.CancelDeploymentParams) error {
	b, err := s.findBuildOf(c, ident, dep)
	if err != nil {
		return err
	}
	return s.cancelBuildRow(c, b)
}

// DeleteAppSource stops building an app from git: the source goes, its
// pending builds are cancelled, the app keeps its last image.
func (s *server) DeleteAppSource(c echo.Context, ident openapi.AppPath, _ openapi.DeleteAppSourceParams) error {
	ctx := c.Request().Context()
	o, p := org(c), caller(c)
	err := s.Store.InTx(ctx, func(q *store.Queries) error {
		app, err := lockApp(ctx, q, o.ID, ident)
		if err != nil {
			return err
		}
		n, err := q.DeleteAppSource(ctx, app.ID)
		if err != nil {
			return err
		}
		if n == 0 {
			return problem.NotFound(fmt.Sprintf("app %q has no source", app.Name))
		}
		cancelled, err := q.CancelPendingBuilds(ctx, app.ID)
		if err != nil {
			return err
		}
		nums := make([]int32, 0, len(cancelled))
		for _, b := range cancelled {
			nums = append(nums, b.Number)
		}
		return audit(ctx, q, p, "app.source.delete", "app", app.ID.String(), o.ID, map[string]any{"name": app.Name, "builds_cancelled": nums})
	})
	if err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// GetAppSource answers an app's source, without its webhook secret.
func (s *server) GetAppSource(c echo.Context, ident openapi.AppPath, _ openapi.GetAppSourceParams) error {
	app, err := s.findApp(c, ident)
	if err != nil {
		return err
	}
	src, err := s.Store.GetAppSource(c.Request().Context(), app.ID)
	if store.IsNotFound(err) {
		return problem.NotFound(fmt.Sprintf("app %q has no source: it runs an image of its own", app.Name))
	}
	if err != nil {
		return err
	}
	ans := openapi.AppSourceAnswer{AppId: src.AppID, Dockerfile: src.Dockerfile, Builder: src.Builder}
	ans.Git.Url, ans.Git.Ref, ans.Git.Path = src.GitUrl, src.GitRef, src.GitPath
	return c.JSON(http.StatusOK, ans)
}
