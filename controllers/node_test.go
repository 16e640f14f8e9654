package controllers_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/api/types"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/swarm"
	"github.com/docker/docker/errdefs"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/skypanel/paas/controllers"
	"github.com/skypanel/paas/controllers/node"
	"github.com/skypanel/paas/controllers/swarm/swarmtest"
	"github.com/skypanel/paas/store"
)

// healthEvery is the test's node_health_interval_seconds.
const healthEvery = 2 * time.Second

// nodeSettings shortens the node loop's intervals for a test.
func (e *env) nodeSettings() {
	e.t.Helper()
	for k, v := range map[string]string{
		node.SettingHealthInterval:   "2",
		node.SettingResourceInterval: "2",
	} {
		if err := e.store.PutSetting(e.ctx, store.PutSettingParams{Key: k, Value: &v}); err != nil {
			e.t.Fatal(err)
		}
	}
}

func (e *env) node(id string) (store.WorkerNode, bool) {
	e.t.Helper()
	n, err := e.store.GetWorkerNode(e.ctx, id)
	if store.IsNotFound(err) {
		return n, false
	}
	if err != nil {
		e.t.Fatal(err)
	}
	return n, true
}

func (e *env) waitNode(id, what string, cond func(store.WorkerNode) bool) store.WorkerNode {
	e.t.Helper()
	var n store.WorkerNode
	swarmtest.Eventually(e.t, 60*time.Second, "node "+what, func() bool {
		var ok bool
		n, ok = e.node(id)
		return ok && cond(n)
	})
	return n
}

func (e *env) swarmNode(id string) (swarm.Node, bool) {
	e.t.Helper()
	n, _, err := e.docker.NodeInspectWithRaw(e.ctx, id)
	if errdefs.IsNotFound(err) {
		return n, false
	}
	if err != nil {
		e.t.Fatal(err)
	}
	return n, true
}

func (e *env) notifications(kind, nodeID string) int {
	e.t.Helper()
	var n int
	if err := e.store.Pool.QueryRow(e.ctx, `SELECT count(*) FROM paas_notifications WHERE kind = $1 AND body LIKE '%' || $2 || '%'`,
		kind, nodeID).Scan(&n); err != nil {
		e.t.Fatal(err)
	}
	return n
}

// hookReceiver is an alert webhook endpoint that answers 503 to the first
// post of each delivery (X-Paas-Delivery) and accepts the next ones.
type hookReceiver struct {
	mu       sync.Mutex
	posts    map[string]int          // delivery id: posts
	accepted map[string]node.Payload // delivery id: body accepted
}

func (e *env) hookReceiver() *hookReceiver {
	e.t.Helper()
	h := &hookReceiver{posts: map[string]int{}, accepted: map[string]node.Payload{}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var p node.Payload
		body, _ := io.ReadAll(r.Body)
		_ = json.Unmarshal(body, &p)
		id := r.Header.Get("X-Paas-Delivery")
		h.mu.Lock()
		defer h.mu.Unlock()
		if h.posts[id]++; h.posts[id] == 1 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		h.accepted[id] = p
	}))
	e.t.Cleanup(srv.Close)
	u := srv.URL
	if err := e.store.PutSetting(e.ctx, store.PutSettingParams{Key: node.SettingWebhookURL, Value: &u}); err != nil {
		e.t.Fatal(err)
	}
	return h
}

// delivered counts the accepted webhooks of one kind for a node, and the
// posts they took.
func (h *hookReceiver) delivered(kind, nodeID string) (accepted, posts int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for id, p := range h.accepted {
		if p.Kind == kind && p.NodeID == nodeID {
			accepted++
			posts += h.posts[id]
		}
	}
	return accepted, posts
}

// restartManager stops the test's manager and starts another on the same
// database and installation, as a restart of paasd would.
func (e *env) restartManager() {
	e.t.Helper()
	e.stopManager()
	old := e.manager
	m := &controllers.Manager{
		Store: old.Store, DatabaseURL: old.DatabaseURL, Docker: old.Docker, Box: old.Box, InstanceID: old.InstanceID,
		ResyncInterval: old.ResyncInterval, RolloutDeadline: old.RolloutDeadline, UpdateMonitor: old.UpdateMonitor,
		PollInterval: old.PollInterval, Workers: old.Workers, LeaderCheckInterval: old.LeaderCheckInterval,
		LeaderRetryInterval: old.LeaderRetryInterval, TombstoneRetention: old.TombstoneRetention,
		Registerer: prometheus.NewRegistry(),
	}
	ctx, cancel := context.WithCancel(e.ctx)
	done := make(chan struct{})
	log := zerolog.New(zerolog.NewTestWriter(e.t)).Level(zerolog.InfoLevel).With().Timestamp().Str("manager", "restarted").Logger()
	go func() {
		defer close(done)
		if err := m.Run(log.WithContext(ctx)); err != nil {
			e.t.Errorf("manager: %v", err)
		}
	}()
	e.manager = m
	e.stopManager = func() { cancel(); <-done }
	e.t.Cleanup(e.stopManager)
}

// tasksOn lists the app's tasks Swarm wants running on a node.
func (e *env) tasksOn(serviceID, nodeID string) []swarm.Task {
	e.t.Helper()
	tasks, err := e.docker.TaskList(e.ctx, types.TaskListOptions{Filters: filters.NewArgs(
		filters.Arg("service", serviceID), filters.Arg("node", nodeID), filters.Arg("desired-state", "running"))})
	if err != nil {
		e.t.Fatal(err)
	}
	return tasks
}

// TestNodeLifecycle runs a second Swarm node on this machine (a dockerd in
// its own network namespace, hack/second-node.sh): it joins pending and
// drained; approval makes it active and a spread app places a replica on
// it (the node is then paused: it keeps the replica, takes nothing new);
// stopping its dockerd marks it down within one health interval and
// records exactly one alert, also across a restart of the manager; Swarm
// moves the task and the app is Ready again; bringing the node back clears
// the alert; an admin's removal takes it out of Swarm and the table.
//
// Other tests share this Swarm: the node carries paas.instance=<this
// test's installation> (other installations' node loops leave it alone),
// is active only from its approval until the app's replica is assigned
// to it (then paused), and is drained (desired state) while down, before
// its dockerd comes back.
func TestNodeLifecycle(t *testing.T) {
	e := setup(t)
	e.nodeSettings()
	hooks := e.hookReceiver()
	info, err := e.docker.Info(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	self := e.waitNode(info.Swarm.NodeID, "self registered and observed", func(n store.WorkerNode) bool {
		return n.Approved && n.HealthCheckedAt != nil && n.ResourcesCheckedAt != nil
	})
	if self.DesiredAvailability != "active" || self.Role != "manager" || self.EngineVersion == "" || self.CpuMillis == 0 {
		t.Fatalf("self node: %+v", self)
	}

	second := swarmtest.StartSecondNode(t, map[string]string{node.LabelInstance: e.instance},
		"paas-testapp:v1", "paas-testapp:v2", "paas-testapp:crash")
	row := e.waitNode(second.ID, "registered pending", func(n store.WorkerNode) bool { return n.State == "ready" })
	if row.Approved || row.DesiredAvailability != "drain" || node.Status(row) != node.StatusPending || row.Hostname != second.Name {
		t.Fatalf("a joining node must be pending and drained: %+v", row)
	}
	if sn, _ := e.swarmNode(second.ID); sn.Spec.Availability != swarm.NodeAvailabilityDrain {
		t.Fatalf("pending node availability %s", sn.Spec.Availability)
	}

	// A hand change of a pending node is reverted, and said so.
	sn, _ := e.swarmNode(second.ID)
	sn.Spec.Availability = swarm.NodeAvailabilityActive
	if err := e.docker.NodeUpdate(e.ctx, second.ID, sn.Version, sn.Spec); err != nil {
		t.Fatal(err)
	}
	swarmtest.Eventually(t, 30*time.Second, "hand activation reverted", func() bool {
		sn, _ := e.swarmNode(second.ID)
		return sn.Spec.Availability == swarm.NodeAvailabilityDrain && e.nodeEvent(row, "DriftReverted")
	})

	// Approval: active, and the spread app (running on the first node)
	// scaled up places its new replica there. The node is paused as soon
	// as that replica is assigned: it keeps it, and no other test's task
	// lands there while it is up.
	a := e.createApp("spread", "paas-testapp:v1", 1, nil)
	e.waitReady(a.ID, 120*time.Second)
	svc, _ := e.service(a.ID)
	approved := time.Now()
	if _, err := e.store.SetWorkerNodeDesired(e.ctx, store.SetWorkerNodeDesiredParams{ID: row.ID, Approved: true, DesiredAvailability: "active"}); err != nil {
		t.Fatal(err)
	}
	swarmtest.Eventually(t, 30*time.Second, "approved node active", func() bool {
		sn, _ := e.swarmNode(second.ID)
		return sn.Spec.Availability == swarm.NodeAvailabilityActive
	})
	e.patch(a.ID, func(p *store.UpdateAppSpecParams) { p.Replicas = 2 })
	swarmtest.Eventually(t, 30*time.Second, "a replica assigned to the second node", func() bool {
		return len(e.tasksOn(svc.ID, second.ID)) > 0
	})
	if _, err := e.store.SetWorkerNodeDesired(e.ctx, store.SetWorkerNodeDesiredParams{ID: row.ID, Approved: true, DesiredAvailability: "pause"}); err != nil {
		t.Fatal(err)
	}
	swarmtest.Eventually(t, 30*time.Second, "node paused", func() bool {
		sn, _ := e.swarmNode(second.ID)
		return sn.Spec.Availability == swarm.NodeAvailabilityPause
	})
	t.Logf("the second node took new tasks for %s (approval to pause)", time.Since(approved).Round(time.Millisecond))
	swarmtest.Eventually(t, 90*time.Second, "the replica running on the second node", func() bool {
		for _, task := range e.tasksOn(svc.ID, second.ID) {
			if task.Status.State == swarm.TaskStateRunning {
				return true
			}
		}
		return false
	})
	if ready := e.waitReady(a.ID, 60*time.Second); ready.UpdatedReplicas != 2 {
		t.Fatalf("updated replicas %d, want 2", ready.UpdatedReplicas)
	}
	if row, _ = e.node(second.ID); node.Status(row) != node.StatusPaused {
		t.Fatalf("status %s, want paused", node.Status(row))
	}

	// Loss: Swarm notices, then the loop within one health interval.
	second.Stop(t)
	var swarmDown time.Time
	swarmtest.Eventually(t, 90*time.Second, "Swarm reports the node down", func() bool {
		sn, _ := e.swarmNode(second.ID)
		swarmDown = time.Now()
		return sn.Status.State == swarm.NodeStateDown
	})
	row = e.waitNode(second.ID, "recorded down", func(n store.WorkerNode) bool { return n.State == "down" })
	if took := time.Since(swarmDown); took > healthEvery+time.Second {
		t.Fatalf("node recorded down %s after Swarm said so, health interval %s", took, healthEvery)
	}
	if node.Status(row) != node.StatusDown {
		t.Fatalf("status %s, want down", node.Status(row))
	}
	// Keep it out of other tests' way when it comes back.
	if _, err := e.store.SetWorkerNodeDesired(e.ctx, store.SetWorkerNodeDesiredParams{ID: row.ID, Approved: true, DesiredAvailability: "drain"}); err != nil {
		t.Fatal(err)
	}
	swarmtest.Eventually(t, 30*time.Second, "down node drained", func() bool {
		sn, _ := e.swarmNode(second.ID)
		return sn.Spec.Availability == swarm.NodeAvailabilityDrain
	})
	swarmtest.Eventually(t, 10*time.Second, "one down alert", func() bool { return e.notifications("node.down", second.ID) == 1 })

	// The cooldown holds across a restart: the new manager checks the
	// node's health again and sends nothing.
	restarted := time.Now()
	e.restartManager()
	e.waitNode(second.ID, "checked after the restart", func(n store.WorkerNode) bool {
		return n.HealthCheckedAt != nil && n.HealthCheckedAt.After(restarted.Add(healthEvery))
	})
	if got := e.notifications("node.down", second.ID); got != 1 {
		t.Fatalf("%d down alerts after a restart, want 1", got)
	}

	// Swarm moved the lost task; the app is Ready on the first node.
	swarmtest.Eventually(t, 120*time.Second, "app ready without the lost node", func() bool {
		app := e.app(a.ID)
		return e.condition(app, "Ready").Status == "True" && app.RunningReplicas == 2
	})
	// The down alert's webhook failed once (the receiver answers 503 to a
	// delivery's first post) and the node loop posted it again after the
	// backoff (10 s), on its own passes: accepted exactly once. (Checked
	// after the app is Ready: waiting here first made that check time out.)
	swarmtest.Eventually(t, 60*time.Second, "down webhook delivered after a retry", func() bool {
		accepted, posts := hooks.delivered("node.down", second.ID)
		return accepted == 1 && posts == 2
	})

	// Back: the alert clears.
	second.Start(t)
	e.waitNode(second.ID, "ready again", func(n store.WorkerNode) bool { return n.State == "ready" })
	swarmtest.Eventually(t, 10*time.Second, "alert cleared", func() bool {
		al, err := e.store.GetNodeAlert(e.ctx, store.GetNodeAlertParams{SwarmNodeID: second.ID, Kind: node.AlertDown})
		return err == nil && !al.Firing && e.notifications("node.up", second.ID) == 1
	})
	if got := e.notifications("node.down", second.ID); got != 1 {
		t.Fatalf("%d down alerts, want 1", got)
	}

	// Removal: out of Swarm and the table.
	if _, err := e.store.RequestWorkerNodeRemoval(e.ctx, row.ID); err != nil {
		t.Fatal(err)
	}
	swarmtest.Eventually(t, 60*time.Second, "node removed", func() bool {
		_, inSwarm := e.swarmNode(second.ID)
		_, inTable := e.node(second.ID)
		return !inSwarm && !inTable
	})
	e.waitReady(a.ID, 60*time.Second)
}

func (e *env) nodeEvent(n store.WorkerNode, reason string) bool {
	e.t.Helper()
	evs, err := e.store.ListEvents(e.ctx, store.ListEventsParams{ObjectKind: "node", ObjectID: n.ID, Limit: 100})
	if err != nil {
		e.t.Fatal(err)
	}
	for _, ev := range evs {
		if ev.Reason == reason && strings.Contains(ev.Message, n.Hostname) {
			return true
		}
	}
	return false
}
