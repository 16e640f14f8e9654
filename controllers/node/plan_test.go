package node

import (
	"testing"
	"time"

	"github.com/docker/docker/api/types/swarm"

	"github.com/skypanel/paas/store"
)

func swarmNode(role swarm.NodeRole, av swarm.NodeAvailability, state swarm.NodeState) *swarm.Node {
	return &swarm.Node{ID: "n1", Spec: swarm.NodeSpec{Role: role, Availability: av},
		Description: swarm.NodeDescription{Hostname: "h1"}, Status: swarm.NodeStatus{State: state}}
}

func TestRegister(t *testing.T) {
	n := *swarmNode(swarm.NodeRoleWorker, swarm.NodeAvailabilityActive, swarm.NodeStateReady)
	for _, tc := range []struct {
		name        string
		self, auto  bool
		approved    bool
		desired     swarm.NodeAvailability
		eventReason string
	}{
		{"a joining node waits for approval", false, false, false, swarm.NodeAvailabilityDrain, "PendingApproval"},
		{"auto_approve_nodes approves it", false, true, true, swarm.NodeAvailabilityActive, "Registered"},
		{"the manager beside paasd registers itself", true, false, true, swarm.NodeAvailabilityActive, "Registered"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := Register(n, tc.self, tc.auto)
			if r.Approved != tc.approved || r.Desired != tc.desired || r.Reason != tc.eventReason {
				t.Fatalf("got %+v", r)
			}
		})
	}
	if a := Adopt(*swarmNode(swarm.NodeRoleWorker, swarm.NodeAvailabilityPause, swarm.NodeStateReady)); !a.Approved || a.Desired != swarm.NodeAvailabilityPause {
		t.Fatalf("adopted node must keep its availability: %+v", a)
	}
}

func TestPlanNode(t *testing.T) {
	removing := time.Unix(100, 0)
	row := func(approved bool, desired, lastSeen string, remove *time.Time) store.WorkerNode {
		return store.WorkerNode{SwarmNodeID: "n1", Hostname: "h1", Approved: approved, DesiredAvailability: desired,
			Availability: lastSeen, State: "ready", RemoveRequestedAt: remove}
	}
	worker := func(av swarm.NodeAvailability) *swarm.Node {
		return swarmNode(swarm.NodeRoleWorker, av, swarm.NodeStateReady)
	}
	for _, tc := range []struct {
		name      string
		row       store.WorkerNode
		node      *swarm.Node
		tasksLeft int
		action    Action
		av        swarm.NodeAvailability
		hand      bool
	}{
		{"in step", row(true, "active", "active", nil), worker("active"), 0, ActionNone, "", false},
		{"pending held at drain", row(false, "active", "drain", nil), worker("active"), 0, ActionSetAvailability, "drain", true},
		{"pending node just joined active", row(false, "drain", "active", nil), worker("active"), 0, ActionSetAvailability, "drain", false},
		{"approval activates", row(true, "active", "drain", nil), worker("drain"), 0, ActionSetAvailability, "active", false},
		{"admin drain", row(true, "drain", "active", nil), worker("active"), 0, ActionSetAvailability, "drain", false},
		{"admin pause", row(true, "pause", "active", nil), worker("active"), 0, ActionSetAvailability, "pause", false},
		{"hand drain reverted", row(true, "active", "active", nil), worker("drain"), 0, ActionSetAvailability, "active", true},
		{"hand pause reverted", row(true, "drain", "drain", nil), worker("pause"), 0, ActionSetAvailability, "drain", true},
		{"removal drains first", row(true, "drain", "active", &removing), worker("active"), 3, ActionSetAvailability, "drain", false},
		{"removal waits for tasks", row(true, "drain", "drain", &removing), worker("drain"), 2, ActionWaitTasks, "", false},
		{"removal removes", row(true, "drain", "drain", &removing), worker("drain"), 0, ActionRemove, "", false},
		{"a manager is not removed", row(true, "drain", "drain", &removing), swarmNode(swarm.NodeRoleManager, "drain", "ready"), 0, ActionRefuse, "", false},
		{"gone from Swarm", row(true, "active", "active", nil), nil, 0, ActionForget, "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := PlanNode(tc.row, tc.node, tc.tasksLeft)
			if p.Action != tc.action || p.Availability != tc.av || p.HandChange != tc.hand {
				t.Fatalf("got %+v, want %s %q hand=%v", p, tc.action, tc.av, tc.hand)
			}
		})
	}
}

func TestStatus(t *testing.T) {
	now := time.Unix(0, 0)
	for _, tc := range []struct {
		row  store.WorkerNode
		want string
	}{
		{store.WorkerNode{Approved: false, State: "ready", DesiredAvailability: "drain"}, StatusPending},
		{store.WorkerNode{Approved: true, State: "ready", DesiredAvailability: "active"}, StatusActive},
		{store.WorkerNode{Approved: true, State: "down", DesiredAvailability: "active"}, StatusDown},
		{store.WorkerNode{Approved: true, State: "ready", ManagerReachability: "unreachable", DesiredAvailability: "active"}, StatusDown},
		{store.WorkerNode{Approved: true, State: "ready", DesiredAvailability: "drain"}, StatusDraining},
		{store.WorkerNode{Approved: true, State: "ready", DesiredAvailability: "pause"}, StatusPaused},
		{store.WorkerNode{Approved: true, State: "ready", DesiredAvailability: "drain", RemoveRequestedAt: &now}, StatusRemoving},
	} {
		if got := Status(tc.row); got != tc.want {
			t.Errorf("Status(%+v) = %s, want %s", tc.row, got, tc.want)
		}
	}
}

func TestReserved(t *testing.T) {
	task := func(state swarm.TaskState, nano, mem int64) swarm.Task {
		return swarm.Task{Status: swarm.TaskStatus{State: state}, Spec: swarm.TaskSpec{Resources: &swarm.ResourceRequirements{
			Reservations: &swarm.Resources{NanoCPUs: nano, MemoryBytes: mem}}}}
	}
	cpu, mem, n := Reserved([]swarm.Task{
		task(swarm.TaskStateRunning, 250_000_000, 128<<20),
		task(swarm.TaskStateRunning, 100_000_000, 64<<20),
		task(swarm.TaskStatePreparing, 1_000_000_000, 1<<30), // not running yet
	})
	if cpu != 350 || mem != 192<<20 || n != 2 {
		t.Fatalf("got %d millis, %d bytes, %d running", cpu, mem, n)
	}
}
