package node

import (
	"github.com/docker/docker/api/types/swarm"

	"github.com/skypanel/paas/store"
)

// Status values of a node as the API shows it (store.NodeStatus).
const (
	StatusPending  = store.NodePending
	StatusActive   = store.NodeActive
	StatusDraining = store.NodeDraining
	StatusPaused   = store.NodePaused
	StatusDown     = store.NodeDown
	StatusRemoving = store.NodeRemoving
)

// Status summarizes a node row for humans and the API.
func Status(n store.WorkerNode) string { return store.NodeStatus(n) }

// Down reports whether Swarm's node status means the node is lost.
func Down(state, reachability string) bool { return store.NodeLost(state, reachability) }

// Registration is how a node seen for the first time enters the table.
type Registration struct {
	Approved bool
	// Desired is the availability the loop holds the node at.
	Desired swarm.NodeAvailability
	Reason  string // event reason
	Message string // event message
}

// Register decides how a new node enters: the manager paasd runs beside is
// approved (it registers itself) and so is every node while
// auto_approve_nodes is on; any other node is pending and held at drain
// until an admin approves it.
func Register(n swarm.Node, self, autoApprove bool) Registration {
	name := hostname(n)
	switch {
	case self:
		return Registration{Approved: true, Desired: swarm.NodeAvailabilityActive, Reason: "Registered",
			Message: "registered the manager paasd runs beside (" + name + ")"}
	case autoApprove:
		return Registration{Approved: true, Desired: swarm.NodeAvailabilityActive, Reason: "Registered",
			Message: "node " + name + " joined and was approved (auto_approve_nodes)"}
	default:
		return Registration{Approved: false, Desired: swarm.NodeAvailabilityDrain, Reason: "PendingApproval",
			Message: "node " + name + " joined: held at drain until an admin approves it"}
	}
}

// Adopt registers a node that was part of the Swarm before the node loop
// first ran: approved, at the availability it has, so upgrading paasd
// never drains a working cluster.
func Adopt(n swarm.Node) Registration {
	name := hostname(n)
	av := n.Spec.Availability
	if av == "" {
		av = swarm.NodeAvailabilityActive
	}
	return Registration{Approved: true, Desired: av, Reason: "Adopted",
		Message: "adopted node " + name + " already in the Swarm at availability " + string(av)}
}

// Action is what the node loop does to a node in one pass.
type Action string

// The actions of a plan.
const (
	ActionNone            Action = "none"
	ActionSetAvailability Action = "set-availability" // write Availability to the node's spec
	ActionWaitTasks       Action = "wait-tasks"       // removal: drained, tasks still moving
	ActionRemove          Action = "remove"           // removal: remove from Swarm, then forget
	ActionForget          Action = "forget"           // the node left Swarm: delete the row
	ActionRefuse          Action = "refuse"           // removal of a manager: demote it first
)

// Plan is the node loop's decision for one node.
type Plan struct {
	Action Action
	// Availability is what ActionSetAvailability writes.
	Availability swarm.NodeAvailability
	// HandChange is set when the node's availability was changed by hand
	// (it was at the desired one when last observed): the revert is an event.
	HandChange bool
	Message    string
}

// PlanNode compares a registered node's row (desired state and the last
// observation) with the node as Swarm reports it (nil: gone). tasksLeft
// counts the tasks Swarm still wants running on the node.
func PlanNode(row store.WorkerNode, n *swarm.Node, tasksLeft int) Plan {
	if n == nil {
		return Plan{Action: ActionForget, Message: "node " + row.Hostname + " left the Swarm"}
	}
	desired := swarm.NodeAvailability(row.DesiredAvailability)
	if !row.Approved {
		desired = swarm.NodeAvailabilityDrain
	}
	removing := row.RemoveRequestedAt != nil
	if removing {
		desired = swarm.NodeAvailabilityDrain
		if n.Spec.Role == swarm.NodeRoleManager {
			return Plan{Action: ActionRefuse, Message: "node " + row.Hostname + " is a manager: demote it (docker node demote) before removing it"}
		}
	}
	if n.Spec.Availability != desired {
		p := Plan{Action: ActionSetAvailability, Availability: desired}
		// The last observation matched what was wanted then: someone
		// changed it since, by hand.
		if row.Availability == string(desired) && !removing {
			p.HandChange = true
			p.Message = "reverted hand change of node " + row.Hostname + ": availability " +
				string(n.Spec.Availability) + " -> " + string(desired)
		} else {
			p.Message = "set node " + row.Hostname + " availability " + string(n.Spec.Availability) + " -> " + string(desired)
		}
		return p
	}
	if removing {
		if tasksLeft > 0 {
			return Plan{Action: ActionWaitTasks, Message: "removing node " + row.Hostname + ": drained, waiting for its tasks to move"}
		}
		return Plan{Action: ActionRemove, Message: "removed node " + row.Hostname + " from the Swarm"}
	}
	return Plan{Action: ActionNone}
}

// hostname names a node; a node that just joined may not have described
// itself yet.
func hostname(n swarm.Node) string {
	if n.Description.Hostname != "" {
		return n.Description.Hostname
	}
	return n.ID
}
