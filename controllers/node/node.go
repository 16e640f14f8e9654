// Package node holds the node loop: it keeps Swarm's nodes and
// paas_worker_nodes in step (registration, approval, the availability
// admins declared, removal), monitors each node's resources and health,
// and turns a lost node or exhausted reservations into alerts.
package node

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/docker/docker/api/types"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/swarm"
	"github.com/docker/docker/api/types/system"
	"github.com/docker/docker/errdefs"
	"github.com/rs/zerolog"

	"github.com/skypanel/paas/controllers/runtime"
	"github.com/skypanel/paas/store"
	"github.com/skypanel/paas/store/key"
	"github.com/skypanel/paas/store/secret"
)

// Name is the node loop's name in the registry, events and metrics.
const Name = "node"

// LabelInstance on a node reserves it for one installation: the node
// loops of other installations sharing the Swarm leave it alone. Nodes
// without it belong to every installation (the usual case: one per Swarm).
const LabelInstance = "paas.instance"

// Settings (paas_settings) and their defaults.
const (
	SettingAutoApprove      = "auto_approve_nodes"             // "true" approves every joining node
	SettingResourceInterval = "node_resource_interval_seconds" // 30
	SettingHealthInterval   = "node_health_interval_seconds"   // 60
	SettingAlertThreshold   = "node_alert_threshold_percent"   // 90
	SettingAlertCooldown    = "node_alert_cooldown_minutes"    // 30
	SettingWebhookURL       = "node_alert_webhook_url"         // "" sends none
	SettingWebhookSecret    = "node_alert_webhook_secret"      // sensitive; HMAC key of the webhook
	settingAdopted          = "nodes_adopted"                  // set once the nodes present at the first run were adopted
)

// Docker is the part of the engine API the node loop calls.
type Docker interface {
	NodeList(ctx context.Context, opts types.NodeListOptions) ([]swarm.Node, error)
	NodeInspectWithRaw(ctx context.Context, id string) (swarm.Node, []byte, error)
	NodeUpdate(ctx context.Context, id string, version swarm.Version, spec swarm.NodeSpec) error
	NodeRemove(ctx context.Context, id string, opts types.NodeRemoveOptions) error
	TaskList(ctx context.Context, opts types.TaskListOptions) ([]swarm.Task, error)
	Info(ctx context.Context) (system.Info, error)
}

// Reconciler is the node loop; configure it by fields.
type Reconciler struct {
	Store  *store.Store
	Docker Docker
	// Box opens the webhook's sealed secret.
	Box *secret.Box
	// InstanceID: nodes labelled paas.instance with another id are left alone.
	InstanceID string
	// HTTP sends webhooks (a client with a 5 s timeout if nil).
	HTTP *http.Client
	// Now reads the clock; logic never calls time.Now itself.
	Now func() time.Time

	selfMu sync.Mutex
	self   string // "" until Info answered
}

// selfID is the Swarm id of the node paasd talks to: the manager it runs beside.
// A failed Info is asked again at the next call, not remembered.
func (r *Reconciler) selfID(ctx context.Context) string {
	r.selfMu.Lock()
	defer r.selfMu.Unlock()
	if r.self == "" {
		if info, err := r.Docker.Info(ctx); err == nil {
			r.self = info.Swarm.NodeID
		}
	}
	return r.self
}

// ours reports whether this installation manages the node.
func (r *Reconciler) ours(n swarm.Node) bool {
	v, ok := n.Spec.Labels[LabelInstance]
	return !ok || v == r.InstanceID
}

// Keys lists every node to reconcile: Swarm's and the table's. At the
// first run it adopts the nodes already in the Swarm (approved, at their
// current availability).
func (r *Reconciler) Keys(ctx context.Context) ([]key.Key, error) {
	nodes, err := r.Docker.NodeList(ctx, types.NodeListOptions{})
	if err != nil {
		return nil, fmt.Errorf("list nodes: %w", err)
	}
	adopted, err := store.StringSetting(ctx, r.Store, settingAdopted)
	if err != nil {
		return nil, err
	}
	if adopted != "true" {
		now := r.Now()
		for _, n := range nodes {
			if r.ours(n) {
				r.register(ctx, n, Adopt(n), now)
			}
		}
		v := "true"
		if err := r.Store.PutSetting(ctx, store.PutSettingParams{Key: settingAdopted, Value: &v}); err != nil {
			return nil, fmt.Errorf("record adoption: %w", err)
		}
	}
	ids, err := r.Store.ListWorkerNodeIDs(ctx)
	if err != nil {
		return nil, fmt.Errorf("list node rows: %w", err)
	}
	seen := map[string]bool{}
	var keys []key.Key
	add := func(id string) {
		if k, err := key.Parse(string(key.KindNode) + "/" + id); err == nil && !seen[id] {
			seen[id] = true
			keys = append(keys, k)
		}
	}
	for _, n := range nodes {
		add(n.ID)
	}
	for _, id := range ids {
		add(id)
	}
	return keys, nil
}

type settings struct {
	autoApprove      bool
	resourceEvery    time.Duration
	healthEvery      time.Duration
	thresholdPercent int64
	cooldown         time.Duration
	webhookURL       string
	webhookSecret    []byte
}

func (r *Reconciler) settings(ctx context.Context) (settings, error) {
	var s settings
	all, err := store.ReadSettings(ctx, r.Store, SettingResourceInterval, SettingHealthInterval, SettingAlertThreshold,
		SettingAlertCooldown, SettingAutoApprove, SettingWebhookURL, SettingWebhookSecret)
	if err != nil {
		return s, err
	}
	s.resourceEvery = time.Duration(max(all.Int(SettingResourceInterval, 30), 1)) * time.Second
	s.healthEvery = time.Duration(max(all.Int(SettingHealthInterval, 60), 1)) * time.Second
	s.thresholdPercent = all.Int(SettingAlertThreshold, 90)
	s.cooldown = time.Duration(all.Int(SettingAlertCooldown, 30)) * time.Minute
	s.autoApprove, _ = strconv.ParseBool(all.String(SettingAutoApprove))
	if s.webhookURL = all.String(SettingWebhookURL); s.webhookURL == "" {
		return s, nil
	}
	st, ok := all[SettingWebhookSecret]
	switch {
	case !ok:
	case st.Sensitive && r.Box != nil && len(st.ValueEncrypted) > 0:
		if s.webhookSecret, err = r.Box.Open(st.ValueEncrypted, secret.SettingAD(SettingWebhookSecret)); err != nil {
			return s, fmt.Errorf("open %s: %w", SettingWebhookSecret, err)
		}
	case st.Value != nil:
		s.webhookSecret = []byte(*st.Value)
	}
	return s, nil
}

// Reconcile converges one node; see the package comment.
func (r *Reconciler) Reconcile(ctx context.Context, k key.Key) (runtime.Result, error) {
	id := k.Name
	ctx = zerolog.Ctx(ctx).With().Str("node", id).Logger().WithContext(ctx)
	now := r.Now()
	cfg, err := r.settings(ctx)
	if err != nil {
		return runtime.Result{}, fmt.Errorf("read settings: %w", err)
	}

	var n *swarm.Node
	if got, _, err := r.Docker.NodeInspectWithRaw(ctx, id); err == nil {
		n = &got
	} else if !errdefs.IsNotFound(err) {
		return runtime.Result{}, fmt.Errorf("inspect node: %w", err)
	}
	row, err := r.Store.GetWorkerNode(ctx, id)
	found := err == nil
	if err != nil && !store.IsNotFound(err) {
		return runtime.Result{}, fmt.Errorf("read node: %w", err)
	}
	if n != nil && !r.ours(*n) {
		// Another installation's node: forget it if we knew it.
		if found {
			_, err := r.Store.DeleteWorkerNode(ctx, id)
			return runtime.Result{}, err
		}
		return runtime.Result{}, nil
	}
	if !found {
		if n == nil {
			return runtime.Result{}, nil
		}
		row, found = r.register(ctx, *n, Register(*n, id == r.selfID(ctx), cfg.autoApprove), now)
		if !found {
			return runtime.Result{}, errors.New("node registered by another writer: retry")
		}
	}

	tasksLeft := 0
	if n != nil && row.RemoveRequestedAt != nil {
		tasks, err := r.tasksOn(ctx, id)
		if err != nil {
			return runtime.Result{}, err
		}
		tasksLeft = len(tasks)
	}
	plan := PlanNode(row, n, tasksLeft)
	msg := ""
	switch plan.Action {
	case ActionForget:
		if _, err := r.Store.DeleteWorkerNode(ctx, id); err != nil {
			return runtime.Result{}, fmt.Errorf("forget node: %w", err)
		}
		r.event(ctx, row, "Warning", "NodeLeft", plan.Message, now)
		return runtime.Result{}, nil
	case ActionRemove:
		if err := r.Docker.NodeRemove(ctx, id, types.NodeRemoveOptions{Force: true}); err != nil && !errdefs.IsNotFound(err) {
			return runtime.Result{}, fmt.Errorf("remove node: %w", err)
		}
		if _, err := r.Store.DeleteWorkerNode(ctx, id); err != nil {
			return runtime.Result{}, fmt.Errorf("forget node: %w", err)
		}
		r.event(ctx, row, "Normal", "Removed", plan.Message, now)
		return runtime.Result{}, nil
	case ActionSetAvailability:
		if err := r.setAvailability(ctx, *n, plan.Availability); err != nil {
			return runtime.Result{}, err
		}
		reason, typ := "AvailabilityChanged", "Normal"
		if plan.HandChange {
			reason, typ = "DriftReverted", "Warning"
		}
		r.event(ctx, row, typ, reason, plan.Message, now)
		got, _, err := r.Docker.NodeInspectWithRaw(ctx, id)
		if err != nil {
			return runtime.Result{}, fmt.Errorf("inspect node: %w", err)
		}
		n = &got
	case ActionWaitTasks, ActionRefuse:
		msg = plan.Message
	}

	row, err = r.observe(ctx, row, *n, msg, now)
	if err != nil {
		return runtime.Result{}, err
	}
	next := cfg.healthEvery
	if due := resourcesDue(row, cfg.resourceEvery, now); due <= 0 {
		if row, err = r.measure(ctx, row, now); err != nil {
			return runtime.Result{}, err
		}
		next = min(next, cfg.resourceEvery)
	} else {
		next = min(next, due)
	}
	if err := r.alerts(ctx, row, cfg, now); err != nil {
		return runtime.Result{}, err
	}
	// Post the due alert webhooks (of every node, not only this one's), and
	// come back when the next retry is due: each node's periodic pass
	// retries them even when no alert is being decided.
	if due, err := r.deliver(ctx, cfg, now); err != nil {
		zerolog.Ctx(ctx).Warn().Err(err).Msg("alert webhooks")
	} else if !due.IsZero() {
		next = min(next, max(due.Sub(now), time.Second))
	}
	if plan.Action == ActionWaitTasks {
		next = min(next, time.Second)
	}
	return runtime.Result{RequeueAfter: next}, nil
}

func resourcesDue(row store.WorkerNode, every time.Duration, now time.Time) time.Duration {
	if row.ResourcesCheckedAt == nil {
		return 0
	}
	return row.ResourcesCheckedAt.Add(every).Sub(now)
}

// register inserts a node seen for the first time and records why.
func (r *Reconciler) register(ctx context.Context, n swarm.Node, reg Registration, now time.Time) (store.WorkerNode, bool) {
	row, err := r.Store.RegisterWorkerNode(ctx, store.RegisterWorkerNodeParams{
		SwarmNodeID: n.ID, Hostname: hostname(n), Role: string(n.Spec.Role),
		Availability: string(n.Spec.Availability), State: string(n.Status.State), Address: n.Status.Addr,
		Approved: reg.Approved, DesiredAvailability: string(reg.Desired), At: &now,
	})
	if err != nil {
		if !store.IsNotFound(err) { // not found: registered already
			zerolog.Ctx(ctx).Warn().Err(err).Msg("register node")
		}
		return store.WorkerNode{}, false
	}
	typ := "Normal"
	if !reg.Approved {
		typ = "Warning"
	}
	r.event(ctx, row, typ, reg.Reason, reg.Message, now)
	return row, true
}

// observe records what Swarm reports of the node.
func (r *Reconciler) observe(ctx context.Context, row store.WorkerNode, n swarm.Node, msg string, now time.Time) (store.WorkerNode, error) {
	labels, _ := json.Marshal(n.Spec.Labels)
	if n.Spec.Labels == nil {
		labels = []byte("{}")
	}
	p := store.ObserveWorkerNodeParams{
		SwarmNodeID: n.ID, Hostname: cmp.Or(n.Description.Hostname, row.Hostname), Role: string(n.Spec.Role),
		Availability: string(n.Spec.Availability), State: string(n.Status.State), Address: n.Status.Addr,
		EngineVersion: n.Description.Engine.EngineVersion, CpuMillis: n.Description.Resources.NanoCPUs / 1e6,
		MemoryBytes: n.Description.Resources.MemoryBytes, Labels: labels, Message: msg, At: &now,
	}
	if ms := n.ManagerStatus; ms != nil {
		p.ManagerReachability, p.IsLeader = string(ms.Reachability), ms.Leader
		if ms.Addr != "" && p.Address == "" {
			p.Address = ms.Addr
		}
	}
	if p.State != row.State && row.State != "" {
		typ, reason := "Normal", "NodeReady"
		if Down(p.State, p.ManagerReachability) {
			typ, reason = "Warning", "NodeDown"
		}
		r.event(ctx, row, typ, reason, fmt.Sprintf("Swarm reports node %s %s (was %s)", p.Hostname, p.State, row.State), now)
	}
	out, err := r.Store.ObserveWorkerNode(ctx, p)
	if err != nil {
		return row, fmt.Errorf("record node: %w", err)
	}
	return out, nil
}

// tasksOn lists the tasks Swarm still wants running on a node.
func (r *Reconciler) tasksOn(ctx context.Context, id string) ([]swarm.Task, error) {
	tasks, err := r.Docker.TaskList(ctx, types.TaskListOptions{Filters: filters.NewArgs(
		filters.Arg("node", id), filters.Arg("desired-state", "running"))})
	if err != nil {
		return nil, fmt.Errorf("list tasks of node: %w", err)
	}
	return tasks, nil
}

// measure sums the reservations of the tasks running on the node.
func (r *Reconciler) measure(ctx context.Context, row store.WorkerNode, now time.Time) (store.WorkerNode, error) {
	tasks, err := r.tasksOn(ctx, row.SwarmNodeID)
	if err != nil {
		return row, err
	}
	cpu, mem, running := Reserved(tasks)
	if err := r.Store.RecordWorkerNodeResources(ctx, store.RecordWorkerNodeResourcesParams{
		SwarmNodeID: row.SwarmNodeID, CpuReservedMillis: cpu, MemoryReservedBytes: mem, TasksRunning: int32(running), At: &now,
	}); err != nil {
		return row, fmt.Errorf("record resources: %w", err)
	}
	row.CpuReservedMillis, row.MemoryReservedBytes, row.TasksRunning, row.ResourcesCheckedAt = cpu, mem, int32(running), &now
	return row, nil
}

// Reserved sums the CPU (millis) and memory reservations of the running tasks.
func Reserved(tasks []swarm.Task) (cpuMillis, memBytes int64, running int) {
	for _, t := range tasks {
		if t.Status.State != swarm.TaskStateRunning {
			continue
		}
		running++
		if res := t.Spec.Resources; res != nil && res.Reservations != nil {
			cpuMillis += res.Reservations.NanoCPUs / 1e6
			memBytes += res.Reservations.MemoryBytes
		}
	}
	return cpuMillis, memBytes, running
}

// event records an event on the node's row.
func (r *Reconciler) event(ctx context.Context, row store.WorkerNode, typ, reason, msg string, at time.Time) {
	log := zerolog.Ctx(ctx)
	lvl := log.Info()
	if typ == "Warning" {
		lvl = log.Warn()
	}
	lvl.Str("reason", reason).Msg(msg)
	if _, err := r.Store.RecordEvent(ctx, store.RecordEventParams{
		ObjectKind: "node", ObjectID: row.ID, Type: typ, Reason: reason, Message: msg, ReportingController: Name, At: at,
	}); err != nil {
		log.Warn().Err(err).Msg("record event")
	}
}

// setAvailability writes a node's availability with its current version;
// a write that raced another ("update out of sequence") is retried at once
// from a fresh read, a few times.
func (r *Reconciler) setAvailability(ctx context.Context, n swarm.Node, av swarm.NodeAvailability) error {
	for attempt := 0; ; attempt++ {
		spec := n.Spec
		spec.Availability = av
		err := r.Docker.NodeUpdate(ctx, n.ID, n.Version, spec)
		if err == nil || attempt == 4 || !strings.Contains(err.Error(), "update out of sequence") {
			if err != nil {
				return fmt.Errorf("update node: %w", err)
			}
			return nil
		}
		if n, _, err = r.Docker.NodeInspectWithRaw(ctx, n.ID); err != nil {
			return fmt.Errorf("inspect node: %w", err)
		}
		if n.Spec.Availability == av {
			return nil
		}
	}
}
