// Package app holds the app loop: it converges each app's Swarm service onto
// the app's current release (image, env, command, resources, healthcheck,
// update config, networks, paas.* labels), cuts releases when the spec
// changes, follows rollouts, removes services of deleted apps and orphans,
// and writes status back.
package app

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/docker/docker/api/types"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/swarm"
	"github.com/docker/docker/client"
	"github.com/docker/docker/errdefs"
	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/skypanel/paas/controllers/observed"
	"github.com/skypanel/paas/controllers/runtime"
	"github.com/skypanel/paas/controllers/servicespec"
	"github.com/skypanel/paas/controllers/servicewrite"
	"github.com/skypanel/paas/controllers/status"
	paasswarm "github.com/skypanel/paas/controllers/swarm"
	"github.com/skypanel/paas/store"
	"github.com/skypanel/paas/store/key"
	"github.com/skypanel/paas/store/secret"
)

// Store is the part of the database the app loop uses.
type Store interface {
	GetAppDesired(ctx context.Context, id uuid.UUID) (store.GetAppDesiredRow, error)
	ListEnvVars(ctx context.Context, appID uuid.UUID) ([]store.EnvVar, error)
	ListDeployments(ctx context.Context, arg store.ListDeploymentsParams) ([]store.Deployment, error)
	CreateDeployment(ctx context.Context, arg store.CreateDeploymentParams) (store.Deployment, error)
	GetDeploymentByGeneration(ctx context.Context, arg store.GetDeploymentByGenerationParams) (store.Deployment, error)
	SupersedeDeployments(ctx context.Context, arg store.SupersedeDeploymentsParams) error
	FinishDeployment(ctx context.Context, arg store.FinishDeploymentParams) (store.Deployment, error)
	AppendDeploymentLog(ctx context.Context, arg store.AppendDeploymentLogParams) error
	DeleteAppRow(ctx context.Context, id uuid.UUID) (int64, error)
	RecordEvent(ctx context.Context, arg store.RecordEventParams) (store.Event, error)
	status.Store
}

// Docker is the part of the engine API the app loop calls itself; updates
// go through the Writer.
type Docker interface {
	ServiceCreate(ctx context.Context, spec swarm.ServiceSpec, opts types.ServiceCreateOptions) (swarm.ServiceCreateResponse, error)
	ServiceRemove(ctx context.Context, id string) error
	TaskList(ctx context.Context, opts types.TaskListOptions) ([]swarm.Task, error)
	ImageInspect(ctx context.Context, ref string, opts ...client.ImageInspectOption) (image.InspectResponse, error)
	ContainerInspect(ctx context.Context, id string) (types.ContainerJSON, error)
}

// Writer writes the app loop's fields of a service.
type Writer interface {
	Update(ctx context.Context, loop string, app uuid.UUID, plan servicewrite.PlanFunc) (*swarm.Service, error)
}

// Metrics counts what the loops did beyond plain reconciles.
type Metrics struct {
	// DriftCorrections counts hand edits reverted, by the loop that owns the field.
	DriftCorrections *prometheus.CounterVec
	// Rollouts counts finished rollouts by outcome (deployed, failed).
	Rollouts *prometheus.CounterVec
}

// NewMetrics builds unregistered metrics.
func NewMetrics() *Metrics {
	return &Metrics{
		DriftCorrections: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "paas_drift_corrections_total", Help: "Hand edits of Swarm services reverted, by loop.",
		}, []string{"loop"}),
		Rollouts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "paas_rollouts_total", Help: "Finished rollouts by outcome.",
		}, []string{"outcome"}),
	}
}

// MustRegister registers every metric on reg.
func (m *Metrics) MustRegister(reg prometheus.Registerer) {
	reg.MustRegister(m.DriftCorrections, m.Rollouts)
}

// Reconciler is the app loop; configure it by fields.
type Reconciler struct {
	// Store reads desired state and records status, releases and events.
	Store Store
	// Docker creates and removes services; reads come from Services.
	Docker Docker
	// Writer updates the service's fields this loop owns.
	Writer Writer
	// Ownership says which fields of a service other loops own, so the
	// plan compares and writes only the rest.
	Ownership servicespec.Ownership
	// Services is the observed-state cache shared with the other loops.
	Services *observed.Services
	// Box opens sealed env values and keys release fingerprints.
	Box *secret.Box
	// InstanceID labels every service and scopes what the loop may touch.
	InstanceID string
	// UpdateMonitor is Swarm's monitor window after each task update.
	UpdateMonitor time.Duration
	// Sandbox confines every task (PIDs, capabilities, log size).
	Sandbox servicespec.Sandbox
	// RolloutDeadline bounds one rollout; past it the release is failed.
	RolloutDeadline time.Duration
	// PollInterval is the poller's period; an unsettled app is also looked
	// at again every ten of them, whatever the poller says.
	PollInterval time.Duration
	// Now reads the clock; logic never calls time.Now itself.
	Now func() time.Time
	// Metrics, when set, counts rollout outcomes.
	Metrics *Metrics
	// Orphans says whether services without an app row may be removed;
	// required (a nil gate would remove nothing, silently).
	Orphans *OrphanGate

	imagesMu sync.Mutex
	// images caches recent image resolutions by reference; guarded by imagesMu.
	images map[string]resolvedImage
}

// Name is the app loop's name in the registry, events and metrics.
const Name = "app"

// Owns is what the app loop writes of a service: everything no other loop
// declares, which includes the paas.* labels.
var Owns = servicespec.Fields{Rest: true, LabelPrefixes: []string{servicespec.LabelPrefix}}

const (
	normal  = servicewrite.Normal
	warning = servicewrite.Warning
)

// conditionError is a failure the user must act on (a missing image, an
// unreadable secret): it sets Degraded with its reason, and is retried with
// backoff in case the world changes (the image gets built).
type conditionError struct {
	reason string
	err    error
}

func (e *conditionError) Error() string { return e.err.Error() }
func (e *conditionError) Unwrap() error { return e.err }

// Reconcile converges one app; see the package comment.
func (r *Reconciler) Reconcile(ctx context.Context, k key.Key) (runtime.Result, error) {
	id, err := k.UUID()
	if err != nil {
		zerolog.Ctx(ctx).Error().Err(err).Msg("dropping malformed key")
		return runtime.Result{}, nil
	}
	ctx = zerolog.Ctx(ctx).With().Str("app", id.String()).Logger().WithContext(ctx)
	now := r.Now()

	row, err := r.Store.GetAppDesired(ctx, id)
	if store.IsNotFound(err) {
		return runtime.Result{}, r.removeOrphan(ctx, id)
	}
	if err != nil {
		return runtime.Result{}, fmt.Errorf("read app: %w", err)
	}
	if row.App.DeletedAt != nil {
		return runtime.Result{}, r.finalize(ctx, row.App)
	}
	if err := r.removeDuplicates(ctx, id); err != nil {
		return runtime.Result{}, err
	}
	if row.OrgNetworkID == nil {
		// The network loop is creating the organization's network, and
		// recording it wakes this app; the requeue is a safety net.
		zerolog.Ctx(ctx).Debug().Msg("waiting for the organization's network")
		return runtime.Result{RequeueAfter: 10 * r.PollInterval}, nil
	}

	if row.App.Image == "" {
		// Created from source: nothing to run until its first build
		// succeeds and writes the image, which wakes this loop again.
		r.writeStatus(ctx, row, statusInput{now: now, awaitingBuild: true})
		return runtime.Result{}, nil
	}

	dec, err := r.ensureRelease(ctx, row, now)
	if err != nil {
		var ce *conditionError
		if errors.As(err, &ce) {
			r.event(ctx, id, warning, ce.reason, ce.Error())
			r.writeStatus(ctx, row, statusInput{blocked: ce, now: now})
		}
		return runtime.Result{}, err
	}

	// Judge the rollout before converging: if Swarm rolled a release back,
	// the service must stay on the release it rolled back to, not get the
	// failed one pushed again.
	var current *swarm.Service
	if svc, ok := r.Services.Get(id.String()); ok {
		current = &svc
	}
	rollout, err := r.followRollout(ctx, row, &dec, current, now)
	if err != nil {
		return runtime.Result{}, err
	}

	svc, err := r.converge(ctx, row, dec, now)
	if err != nil {
		var ce *conditionError
		if errors.As(err, &ce) {
			r.event(ctx, id, warning, ce.reason, ce.Error())
			r.writeStatus(ctx, row, statusInput{blocked: ce, now: now, release: dec})
		}
		return runtime.Result{}, err
	}

	in := statusInput{now: now, release: dec, service: svc, rollout: rollout, desired: DesiredReplicas(row)}
	in.tasks = r.taskHealthOf(ctx, svc, dec, in.desired)
	r.writeStatus(ctx, row, in)

	if in.settled() {
		r.Services.Unwatch(id.String())
		return runtime.Result{}, nil
	}
	// Task state changes raise no service events: the shared poller
	// re-lists services while any app is watched and wakes this one when
	// its observation changes. The requeue is only a safety net (and keeps
	// the rollout deadline honest).
	r.Services.Watch(id.String())
	if in.service != nil && (running(in.service) < in.desired || in.tasks != nil && in.tasks.updated < in.desired) {
		// Replicas are missing: a task the scheduler cannot place or one
		// failing changes no count the poller sees, so look again at the
		// next poll.
		return runtime.Result{RequeueAfter: r.PollInterval}, nil
	}
	return runtime.Result{RequeueAfter: 10 * r.PollInterval}, nil
}

// converge creates or updates the service so it runs the target release,
// and returns the service as now observed (nil when there is no release).
func (r *Reconciler) converge(ctx context.Context, row store.GetAppDesiredRow, dec releaseDecision, now time.Time) (*swarm.Service, error) {
	if dec.Target == nil {
		return nil, nil
	}
	desired, err := r.desired(row, *dec.Target)
	if err != nil {
		return nil, err
	}
	appID := row.App.ID.String()
	var observedSvc *swarm.Service
	if svc, ok := r.Services.Get(appID); ok {
		observedSvc = &svc
	}
	plan := servicespec.PlanApp(desired, observedSvc, r.Ownership, Name)
	switch plan.Action {
	case servicespec.ActionNone:
		if plan.Reason == servicespec.ReasonNotOwned {
			return nil, &conditionError{reason: "ServiceNotOwned", err: fmt.Errorf("service %s belongs to someone else", desired.ServiceName)}
		}
		return observedSvc, nil
	case servicespec.ActionCreate:
		replicas := DesiredReplicas(row)
		plan.Spec.Mode.Replicated.Replicas = &replicas
		plan.Spec.TaskTemplate.ForceUpdate = uint64(row.App.RestartCount)
		resp, err := r.Docker.ServiceCreate(ctx, plan.Spec, types.ServiceCreateOptions{})
		if errdefs.IsConflict(err) || (err != nil && strings.Contains(err.Error(), "name conflicts")) {
			return nil, &conditionError{reason: "ServiceNameTaken", err: fmt.Errorf("create service %s: %w", desired.ServiceName, err)}
		}
		if err != nil {
			return nil, fmt.Errorf("create service: %w", err)
		}
		r.event(ctx, row.App.ID, normal, "Created", fmt.Sprintf("created service %s running release %d with %d replicas", desired.ServiceName, desired.Release, replicas))
		r.Services.Created(appID, resp.ID, plan.Spec)
		svc, _ := r.Services.Get(appID)
		return &svc, nil
	case servicespec.ActionUpdate:
		// The Writer re-plans from each fresh read, so a conflict with
		// another loop's write is settled against what is live then.
		return r.Writer.Update(ctx, Name, row.App.ID, func(live swarm.Service) (*servicewrite.Change, error) {
			plan := servicespec.PlanApp(desired, &live, r.Ownership, Name)
			switch plan.Action {
			case servicespec.ActionNone:
				return nil, nil
			case servicespec.ActionUpdate:
				ch := describeUpdate(desired, plan)
				return &ch, nil
			default:
				return nil, fmt.Errorf("unexpected plan %s (%s) for a live service", plan.Action, plan.Reason)
			}
		})
	default:
		return nil, fmt.Errorf("unexpected plan %s (%s)", plan.Action, plan.Reason)
	}
}

// describeUpdate turns an update plan into the write and its event.
func describeUpdate(d servicespec.Desired, plan servicespec.AppPlan) servicewrite.Change {
	changes := make([]string, 0, len(plan.Drift))
	for _, f := range plan.Drift {
		changes = append(changes, f.String())
	}
	if plan.Reason == servicespec.ReasonDriftReverted {
		return servicewrite.Change{Spec: plan.Spec, Type: warning, Reason: servicewrite.ReasonDriftReverted,
			Message: "reverted hand edit of service " + d.ServiceName + ": " + strings.Join(changes, "; ")}
	}
	return servicewrite.Change{Spec: plan.Spec, Type: normal, Reason: "Updated",
		Message: fmt.Sprintf("updated service %s to release %d: %s", d.ServiceName, d.Release, strings.Join(changes, "; "))}
}

// desired builds the render input from the app and the release it runs.
func (r *Reconciler) desired(row store.GetAppDesiredRow, rel store.Deployment) (servicespec.Desired, error) {
	rs, err := releaseOf(rel)
	if err != nil {
		return servicespec.Desired{}, err
	}
	env, err := r.openEnv(row.App.ID, rs)
	if err != nil {
		return servicespec.Desired{}, &conditionError{reason: "EnvUnreadable", err: err}
	}
	if row.OrgNetworkID == nil {
		return servicespec.Desired{}, errors.New("the organization's network is not created yet")
	}
	plan := row.Plan
	// A release keeps the plan it was cut with; the current plan row gives
	// its resources (a plan's resources are edited rarely, by admins).
	d := servicespec.Desired{
		InstanceID: r.InstanceID, AppID: row.App.ID.String(), AppName: row.App.Name,
		OrgID: row.App.OrganizationID.String(), ServiceName: row.App.ServiceName,
		Image: rel.ImageResolved, ImageRef: rs.Image, Command: rs.Command, Env: env,
		Port: int(rs.Port), CPUMillis: int64(plan.CpuMillis), MemoryMB: int64(plan.MemoryMb),
		Networks: []string{*row.OrgNetworkID}, Release: int(rel.Version), UpdateMonitor: r.UpdateMonitor, Sandbox: r.Sandbox,
	}
	if hc := rs.HealthCheck; hc != nil {
		d.HealthCheck = renderHealthCheck(*hc, int(rs.Port))
	}
	return d, nil
}

func renderHealthCheck(hc store.HealthCheck, port int) *servicespec.HealthCheck {
	seconds := func(n, def int) time.Duration {
		if n == 0 {
			n = def
		}
		return time.Duration(n) * time.Second
	}
	cmd := hc.Command
	if len(cmd) == 0 && hc.Path != "" {
		// The API restricts paths to URL characters; quote anyway, so a
		// path never becomes shell syntax whoever wrote it.
		url := fmt.Sprintf("http://127.0.0.1:%d%s", port, hc.Path)
		cmd = []string{"/bin/sh", "-c", "wget -q -O /dev/null " + shellQuote(url) + " || exit 1"}
	}
	retries := hc.Retries
	if retries == 0 {
		retries = 3
	}
	return &servicespec.HealthCheck{
		Command: cmd, Interval: seconds(hc.IntervalSeconds, 10), Timeout: seconds(hc.TimeoutSeconds, 5),
		StartPeriod: seconds(hc.StartPeriodSeconds, 0), Retries: retries,
	}
}

// shellQuote quotes s for a POSIX shell.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// DesiredReplicas is the user's count, or zero while stopped or suspended.
func DesiredReplicas(row store.GetAppDesiredRow) uint64 {
	if row.App.Stopped || row.OrgSuspended || row.App.Replicas < 0 {
		return 0
	}
	return uint64(row.App.Replicas)
}

// followRollout reads the target release's rollout from Swarm while it is
// deploying and records its end.
func (r *Reconciler) followRollout(ctx context.Context, row store.GetAppDesiredRow, dec *releaseDecision, svc *swarm.Service, now time.Time) (*servicespec.RolloutStatus, error) {
	if svc == nil || dec.Latest == nil || dec.Latest.Status != "deploying" {
		return nil, nil
	}
	rel := dec.Latest
	var startedAt, deadline time.Time
	if rel.StartedAt != nil {
		startedAt = *rel.StartedAt
	}
	if rel.DeadlineAt != nil {
		deadline = *rel.DeadlineAt
	}
	if !rolloutMayHaveEnded(svc, int(rel.Version), deadline, now) {
		// Still updating: no need to list tasks until the service says so.
		return &servicespec.RolloutStatus{Phase: servicespec.RolloutProgressing, Running: running(svc)}, nil
	}
	tasks, err := r.Docker.TaskList(ctx, types.TaskListOptions{Filters: observed.ServiceFilter(svc.ID)})
	if err != nil {
		return nil, fmt.Errorf("list tasks: %w", err)
	}
	st := servicespec.EvaluateRollout(*svc, tasks, int(rel.Version), startedAt, deadline, now)
	var status, msg string
	switch st.Phase {
	case servicespec.RolloutProgressing:
		return &st, nil
	case servicespec.RolloutDeployed:
		status, msg = "deployed", fmt.Sprintf("release %d deployed: %d/%d replicas running", rel.Version, st.Running, st.Desired)
	default:
		status, msg = "failed", st.Message
		if st.TaskError != "" && !strings.Contains(msg, st.TaskError) {
			msg += ": " + st.TaskError
		}
	}
	done, err := r.Store.FinishDeployment(ctx, store.FinishDeploymentParams{
		ID: rel.ID, Status: status, Message: msg, FinishedAt: &now, LogLine: logLine(now, msg),
	})
	if store.IsNotFound(err) {
		return &st, nil // finished already by a previous attempt
	}
	if err != nil {
		return nil, fmt.Errorf("finish release %d: %w", rel.Version, err)
	}
	dec.Recent[0] = done
	dec.pick()
	if r.Metrics != nil {
		r.Metrics.Rollouts.WithLabelValues(status).Inc()
	}
	if status == "deployed" {
		r.event(ctx, row.App.ID, normal, "RolloutSucceeded", msg)
	} else {
		// The failed release stops being the target: the next reconcile
		// renders the last good one, which Swarm rolled back to.
		r.event(ctx, row.App.ID, warning, "RolloutFailed", fmt.Sprintf("release %d failed: %s", rel.Version, msg))
	}
	return &st, nil
}

// rolloutMayHaveEnded tells from the service alone (no task list) whether
// a rollout could be over: Swarm stopped updating (done, paused or rolling
// back) with the release in the spec and enough tasks running, or the
// deadline passed. Only then are tasks listed, to confirm and to find the
// failing task's error.
func rolloutMayHaveEnded(svc *swarm.Service, release int, deadline, now time.Time) bool {
	if !deadline.IsZero() && !now.Before(deadline) {
		return true
	}
	if svc.UpdateStatus != nil {
		switch svc.UpdateStatus.State {
		case swarm.UpdateStateUpdating:
			return false
		case swarm.UpdateStateCompleted:
		default:
			return true // paused or rolling back: a failure to report
		}
	}
	cs := svc.Spec.TaskTemplate.ContainerSpec
	if cs == nil || cs.Labels[servicespec.LabelRelease] != strconv.Itoa(release) {
		return false
	}
	want := uint64(0)
	if r := svc.Spec.Mode.Replicated; r != nil && r.Replicas != nil {
		want = *r.Replicas
	}
	return running(svc) >= want
}

// finalize removes a deleted app's service, then its row. A crash between
// the two repeats both harmlessly.
func (r *Reconciler) finalize(ctx context.Context, app store.App) error {
	if svc, ok := r.Services.Get(app.ID.String()); ok {
		if err := r.Docker.ServiceRemove(ctx, svc.ID); err != nil && !errdefs.IsNotFound(err) {
			return fmt.Errorf("remove service: %w", err)
		}
		r.Services.Forget(app.ID.String(), svc.ID)
		r.event(ctx, app.ID, normal, "Deleted", "removed service "+svc.Spec.Name)
	}
	if err := r.removeDuplicates(ctx, app.ID); err != nil {
		return err
	}
	if _, err := r.Store.DeleteAppRow(ctx, app.ID); err != nil {
		return fmt.Errorf("delete app row: %w", err)
	}
	zerolog.Ctx(ctx).Info().Str("app_name", app.Name).Msg("app deleted")
	return nil
}

// removeOrphan removes the service of an app that has no row: one this
// installation created (the cache holds only ours) and nobody wants.
func (r *Reconciler) removeOrphan(ctx context.Context, id uuid.UUID) error {
	svc, ok := r.Services.Get(id.String())
	if ok {
		if open, why := r.Orphans.Open(); !open {
			// The next resync judges again and enqueues the orphans anew.
			zerolog.Ctx(ctx).Warn().Str("service", svc.Spec.Name).Str("why", why).Msg("keeping a service without an app")
			return nil
		}
		if err := r.Docker.ServiceRemove(ctx, svc.ID); err != nil && !errdefs.IsNotFound(err) {
			return fmt.Errorf("remove orphan service: %w", err)
		}
		r.Services.Forget(id.String(), svc.ID)
		zerolog.Ctx(ctx).Info().Str("service", svc.Spec.Name).Msg("removed orphan service")
		r.event(ctx, id, normal, "OrphanRemoved", "removed service "+svc.Spec.Name+" of an app that no longer exists")
	}
	return r.removeDuplicates(ctx, id)
}

// removeDuplicates removes extra services claiming the same app.
func (r *Reconciler) removeDuplicates(ctx context.Context, id uuid.UUID) error {
	for _, sid := range r.Services.Extra(id.String()) {
		if err := r.Docker.ServiceRemove(ctx, sid); err != nil && !errdefs.IsNotFound(err) {
			return fmt.Errorf("remove duplicate service: %w", err)
		}
		r.Services.Forget(id.String(), sid)
		r.event(ctx, id, warning, "DuplicateRemoved", "removed duplicate service "+sid)
	}
	return nil
}

// resolveImage pins ref. Resolutions are reused for imageCacheTTL, so a
// burst of releases of one image (a hundred apps created at once) costs one
// inspect; a reference moved to another image is seen after that.
func (r *Reconciler) resolveImage(ctx context.Context, ref string) (string, error) {
	now := r.Now()
	r.imagesMu.Lock()
	if e, ok := r.images[ref]; ok && now.Sub(e.at) < imageCacheTTL {
		r.imagesMu.Unlock()
		return e.pinned, nil
	}
	r.imagesMu.Unlock()
	pinned, err := paasswarm.ResolveImage(ctx, r.Docker, ref)
	if err != nil {
		return "", err
	}
	r.imagesMu.Lock()
	defer r.imagesMu.Unlock()
	if r.images == nil || len(r.images) > 1024 {
		r.images = map[string]resolvedImage{}
	}
	r.images[ref] = resolvedImage{pinned: pinned, at: now}
	return pinned, nil
}

const imageCacheTTL = 2 * time.Second

type resolvedImage struct {
	pinned string
	at     time.Time
}

func (r *Reconciler) appendLog(ctx context.Context, d store.Deployment, now time.Time, msg string) {
	if err := r.Store.AppendDeploymentLog(ctx, store.AppendDeploymentLogParams{ID: d.ID, LogLine: logLine(now, msg)}); err != nil {
		zerolog.Ctx(ctx).Warn().Err(err).Msg("append release log")
	}
}

func logLine(at time.Time, msg string) string {
	return at.UTC().Format(time.RFC3339) + " " + msg + "\n"
}

// event records an app event (deduplicated with a count) and logs it.
func (r *Reconciler) event(ctx context.Context, appID uuid.UUID, typ, reason, msg string) {
	servicewrite.Record(ctx, r.Store, r.Now(), Name, appID, typ, reason, msg)
}
