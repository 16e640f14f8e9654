package store

// Node statuses as the API shows them, derived from what admins declared
// and what Swarm reports (NodeStatus).
const (
	NodePending  = "pending"  // joined, waiting for an admin's approval; held at drain
	NodeActive   = "active"   // approved, ready, taking tasks
	NodeDraining = "draining" // approved, held at drain
	NodePaused   = "paused"   // approved, held at pause
	NodeDown     = "down"     // Swarm cannot reach it (or a manager is unreachable)
	NodeRemoving = "removing" // an admin asked to remove it
)

// NodeStatus summarizes a node row for humans and the API.
func NodeStatus(n WorkerNode) string {
	switch {
	case n.RemoveRequestedAt != nil:
		return NodeRemoving
	case !n.Approved:
		return NodePending
	case NodeLost(n.State, n.ManagerReachability):
		return NodeDown
	case n.DesiredAvailability == "drain":
		return NodeDraining
	case n.DesiredAvailability == "pause":
		return NodePaused
	default:
		return NodeActive
	}
}

// NodeLost reports whether Swarm's node status means the node is lost: its
// state is not ready, or it is a manager the others cannot reach.
func NodeLost(state, reachability string) bool {
	return state != "ready" || reachability == "unreachable"
}
