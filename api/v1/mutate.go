package v1

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"net/http"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/skypanel/paas/api/problem"
	"github.com/skypanel/paas/store"
	"github.com/skypanel/paas/store/secret"
)

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
	// imageField names the request field a refused image is reported on
	// (default spec.image).
	imageField string
	// domainsField names the request field refused hostnames are reported
	// on (default spec.domains).
	domainsField string
	// imageFromRelease says the new image is an earlier release's (a
	// rollback): allowed on an app built from source, whose images are
	// otherwise written by its builds only.
	imageFromRelease bool
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
		if next.Image != cur.Image && !m.imageFromRelease {
			// Image and source are exclusive (deploysource.go).
			if err := refuseSourceImage(ctx, q, app, cmp.Or(m.imageField, "spec.image")); err != nil {
				return err
			}
		}
		if field := cmp.Or(m.imageField, "spec.image"); next.Image != cur.Image && !hasField(errs, field) {
			// Every write that changes the image, whatever its route, is
			// held to the image rules here, so none can skip them.
			ierrs, err := checkImageAllowed(ctx, q, o.Slug, field, next.Image)
			if err != nil {
				return err
			}
			errs = append(errs, ierrs...)
		}
		ch := diffDesired(cur, next)
		if len(errs) == 0 && len(ch.DomainsAdd) > 0 {
			// Every write that adds a hostname, whatever its route, is
			// held to the domain rules here.
			derrs, err := checkDomainRules(ctx, q, ch.DomainsAdd, next.Domains, cmp.Or(m.domainsField, "spec.domains"))
			if err != nil {
				return err
			}
			errs = append(errs, derrs...)
		}
		if len(errs) > 0 {
			return invalid(errs, next.Plan)
		}
		out = next
		if ch.empty() && !m.restart {
			return nil
		}
		scalingUp := next.Replicas > cur.Replicas || (cur.Stopped && !next.Stopped)
		if err := s.checkFunds(ctx, q, o.ID, app.ID, ch.Release || scalingUp || m.restart,
			hourlyCost(next), hourlyCost(next) > hourlyCost(cur)); err != nil {
			return err
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
		if err := writeDomains(ctx, q, app.ID, ch); err != nil {
			return err
		}
		if !ch.Spec && (len(ch.DomainsAdd) > 0 || len(ch.DomainsDel) > 0) {
			// spec.domains changed: the app's version (its ETag) moves.
			if err := q.APITouchApp(ctx, app.ID); err != nil {
				return fmt.Errorf("touch app: %w", err)
			}
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
		if len(ch.DomainsAdd) > 0 {
			details["domains_added"] = ch.DomainsAdd
		}
		if len(ch.DomainsDel) > 0 {
			details["domains_removed"] = ch.DomainsDel
		}
		maps.Copy(details, m.details)
		return audit(ctx, q, p, m.action, "app", app.ID.String(), o.ID, details)
	})
	return appID, out, err
}

// writeEnv applies an env change; values are sealed first.
func (s *server) writeEnv(ctx context.Context, q *store.Queries, appID uuid.UUID, ch change) error {
	for _, k := range sortedKeys(ch.EnvSet) {
		sealed, err := s.Box.Seal([]byte(ch.EnvSet[k]), secret.EnvAD(appID, k))
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

// hourlyCost is what an app's spec costs an hour while it runs.
func hourlyCost(d desired) int64 {
	if d.Stopped {
		return 0
	}
	return int64(d.Replicas) * d.Plan.PriceHourlyMicros
}
