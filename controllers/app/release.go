package app

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/skypanel/paas/store"
	"github.com/skypanel/paas/store/secret"
	"github.com/skypanel/paas/store/spec"
)

// fingerprint is a keyed hash of a release's canonical form. It is keyed
// (see secret.Box.Fingerprint) because env values are in it: a plain hash
// of a short secret could be guessed offline.
func (r *Reconciler) fingerprint(in spec.Release) string {
	return r.Box.Fingerprint(in.Canonical())
}

// releaseOf decodes a deployment's snapshot.
func releaseOf(d store.Deployment) (store.ReleaseSpec, error) {
	var rs store.ReleaseSpec
	if err := json.Unmarshal(d.Spec, &rs); err != nil {
		return rs, fmt.Errorf("decode release %d snapshot: %w", d.Version, err)
	}
	return rs, nil
}

// openEnv decrypts a release's sealed env.
// Each value is bound to the app's variable it was copied from (secret.EnvAD).
func (r *Reconciler) openEnv(app uuid.UUID, rs store.ReleaseSpec) (map[string]string, error) {
	env := make(map[string]string, len(rs.Env))
	for _, k := range slices.Sorted(maps.Keys(rs.Env)) {
		v, err := r.Box.Open(rs.Env[k], secret.EnvAD(app, k))
		if err != nil {
			return nil, fmt.Errorf("env %s: %w", k, err)
		}
		env[k] = string(v)
	}
	return env, nil
}

// releaseDecision holds an app's recent releases, newest first, from which
// the release to run is derived.
type releaseDecision struct {
	// Recent are the app's newest releases, newest first.
	Recent []store.Deployment
	// Target is the release the service must run: the newest one unless it
	// failed, in which case the newest that did not (what Swarm rolled back
	// to). Nil only when the app has no release at all.
	Target *store.Deployment
	// Latest is the newest release; nil when there is none.
	Latest *store.Deployment
}

// pick sets Latest and Target from Recent.
func (d *releaseDecision) pick() {
	d.Latest, d.Target = nil, nil
	if len(d.Recent) == 0 {
		return
	}
	d.Latest = &d.Recent[0]
	for i := range d.Recent {
		if d.Recent[i].Status != "failed" {
			d.Target = &d.Recent[i]
			return
		}
	}
	d.Target = d.Latest // every release failed: keep running the newest
}

// ensureRelease cuts release N+1 when the app's release-relevant spec no
// longer matches the newest release, and picks the release to run.
func (r *Reconciler) ensureRelease(ctx context.Context, row store.GetAppDesiredRow, now time.Time) (releaseDecision, error) {
	app := row.App
	recent, err := r.Store.ListDeployments(ctx, store.ListDeploymentsParams{AppID: app.ID, Limit: 50})
	if err != nil {
		return releaseDecision{}, fmt.Errorf("list releases: %w", err)
	}
	// The spec is compared with the newest release only when it moved since
	// that release was cut and since the last reconcile that acted on it
	// (observed_generation): a replicas-only change is checked once, not on
	// every resync.
	if len(recent) == 0 || (recent[0].Generation < app.Generation && app.ObservedGeneration < app.Generation) {
		d, made, err := r.maybeCut(ctx, row, recent, now)
		if err != nil {
			return releaseDecision{}, err
		}
		if made {
			recent = append([]store.Deployment{d}, recent...)
		}
	}
	dec := releaseDecision{Recent: recent}
	dec.pick()
	return dec, nil
}

// maybeCut compares the app's spec with the newest release and cuts a new
// one when they differ. The image is resolved now, so the release runs
// exactly what the reference meant at this moment.
func (r *Reconciler) maybeCut(ctx context.Context, row store.GetAppDesiredRow, recent []store.Deployment, now time.Time) (store.Deployment, bool, error) {
	app := row.App
	vars, err := r.Store.ListEnvVars(ctx, app.ID)
	if err != nil {
		return store.Deployment{}, false, fmt.Errorf("list env: %w", err)
	}
	env := make(map[string]string, len(vars))
	sealed := make(map[string][]byte, len(vars))
	for _, v := range vars {
		plain, err := r.Box.Open(v.ValueEncrypted, secret.EnvAD(app.ID, v.Key))
		if err != nil {
			return store.Deployment{}, false, &conditionError{reason: "EnvUnreadable", err: fmt.Errorf("env %s: %w", v.Key, err)}
		}
		env[v.Key] = string(plain)
		sealed[v.Key] = v.ValueEncrypted
	}
	hc, err := store.ParseHealthCheck(app.HealthCheck.RawMessage)
	if err != nil {
		return store.Deployment{}, false, &conditionError{reason: "InvalidSpec", err: err}
	}
	in := spec.Release{Image: app.Image, Command: app.Command, Port: app.Port, PlanID: app.PlanID.String(), HealthCheck: hc, Env: env}
	fp := r.fingerprint(in)

	// A spec equal to an earlier release's (what a rollback writes) runs
	// that release again: the same pinned image, never a re-resolution of
	// its tag, which may have moved since.
	var rollbackOf *int32
	var pinned string
	for i, d := range recent {
		rs, err := releaseOf(d)
		if err != nil {
			continue
		}
		if rs.Fingerprint != fp {
			continue
		}
		if i == 0 {
			return store.Deployment{}, false, nil // the newest release already runs this spec
		}
		v := d.Version
		rollbackOf, pinned = &v, d.ImageResolved
		break
	}

	if pinned == "" {
		if pinned, err = r.resolveImage(ctx, app.Image); err != nil {
			return store.Deployment{}, false, &conditionError{reason: "ImageNotFound", err: err}
		}
	}
	snapshot, err := json.Marshal(store.ReleaseSpec{
		Image: app.Image, Command: app.Command, Port: app.Port, PlanID: app.PlanID.String(),
		PlanName: row.Plan.Name, HealthCheck: hc, Env: sealed, Fingerprint: fp,
	})
	if err != nil {
		return store.Deployment{}, false, fmt.Errorf("encode release: %w", err)
	}
	deadline := now.Add(r.RolloutDeadline)
	d, err := r.Store.CreateDeployment(ctx, store.CreateDeploymentParams{
		AppID: app.ID, Generation: app.Generation, Spec: snapshot, Image: app.Image,
		ImageResolved: pinned, RollbackOf: rollbackOf, StartedAt: &now, DeadlineAt: &deadline,
	})
	if store.IsNotFound(err) {
		// A release for this generation exists already (cut by a previous
		// leader that crashed before acting on it): use it, never a duplicate.
		d, err = r.Store.GetDeploymentByGeneration(ctx, store.GetDeploymentByGenerationParams{AppID: app.ID, Generation: app.Generation})
		if err != nil {
			return store.Deployment{}, false, fmt.Errorf("read release of generation %d: %w", app.Generation, err)
		}
		return d, true, nil
	}
	if err != nil {
		return store.Deployment{}, false, fmt.Errorf("cut release: %w", err)
	}
	if err := r.Store.SupersedeDeployments(ctx, store.SupersedeDeploymentsParams{AppID: app.ID, FinishedAt: &now, ByVersion: d.Version}); err != nil {
		return store.Deployment{}, false, fmt.Errorf("supersede older releases: %w", err)
	}
	msg := fmt.Sprintf("release %d cut: image %s (%s)", d.Version, app.Image, shortImage(pinned))
	if rollbackOf != nil {
		msg = fmt.Sprintf("release %d cut as a rollback to release %d: image %s (%s, as release %d ran it)", d.Version, *rollbackOf, app.Image, shortImage(pinned), *rollbackOf)
	}
	r.appendLog(ctx, d, now, msg)
	r.event(ctx, app.ID, normal, "ReleaseCreated", msg)
	return d, true, nil
}

func shortImage(pinned string) string {
	if len(pinned) > 19 {
		return pinned[:19]
	}
	return pinned
}
