package v1

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/skypanel/paas/api/openapi"
	"github.com/skypanel/paas/api/problem"
	"github.com/skypanel/paas/store"
	"github.com/skypanel/paas/store/secret"
)

// The settings paasd init records for joining nodes.
const (
	settingSwarmManagerIP  = "swarm_manager_ip"
	settingJoinTokenWorker = "swarm_join_token_worker"
)

// AdminListWorkers answers a page of nodes by hostname.
func (s *server) AdminListWorkers(c echo.Context, params openapi.AdminListWorkersParams) error {
	ctx := c.Request().Context()
	limit, err := pageLimit(params.Limit)
	if err != nil {
		return err
	}
	after, err := decodeCursor(params.Cursor)
	if err != nil {
		return err
	}
	afterHost, afterID, _ := strings.Cut(after, "/")
	rows, err := s.Store.ListWorkerNodesPage(ctx, store.ListWorkerNodesPageParams{AfterHostname: afterHost, AfterID: afterID, Lim: int32(limit + 1)})
	if err != nil {
		return err
	}
	ids := make([]string, len(rows))
	for i, n := range rows {
		ids[i] = n.SwarmNodeID
	}
	all, err := s.Store.ListNodeAlertsOf(ctx, ids)
	if err != nil {
		return err
	}
	alerts := map[string][]store.PaasNodeAlert{}
	for _, a := range all {
		alerts[a.SwarmNodeID] = append(alerts[a.SwarmNodeID], a)
	}
	items, next, err := page(rows, limit,
		func(n store.WorkerNode) (openapi.Worker, error) { return workerOut(n, alerts[n.SwarmNodeID]), nil },
		func(n store.WorkerNode) string { return n.Hostname + "/" + n.SwarmNodeID })
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, openapi.WorkerList{Items: items, NextCursor: next})
}

// AdminGetWorker answers one node with its alerts.
func (s *server) AdminGetWorker(c echo.Context, ident openapi.NodePath) error {
	ctx := c.Request().Context()
	n, err := findWorker(ctx, s.Store.Queries, ident)
	if err != nil {
		return err
	}
	return s.answerWorker(c, http.StatusOK, n)
}

// AdminWorkerAction records an admin's decision on a node; the node loop
// applies it.
func (s *server) AdminWorkerAction(c echo.Context, ident openapi.NodePath, action string) error {
	ctx := c.Request().Context()
	var out store.WorkerNode
	err := s.Store.InTx(ctx, func(q *store.Queries) error {
		n, err := findWorker(ctx, q, ident)
		if err != nil {
			return err
		}
		if n.RemoveRequestedAt != nil {
			return problem.Conflict(fmt.Sprintf("node %s is being removed", n.Hostname))
		}
		p := store.SetWorkerNodeDesiredParams{ID: n.ID, Approved: n.Approved, DesiredAvailability: n.DesiredAvailability}
		switch action {
		case "approve":
			if n.Approved {
				return problem.Conflict(fmt.Sprintf("node %s is approved already", n.Hostname))
			}
			p.Approved, p.DesiredAvailability = true, "active"
		case "drain", "pause", "activate":
			if !n.Approved {
				return problem.Conflict(fmt.Sprintf("node %s is pending: approve it first", n.Hostname))
			}
			p.DesiredAvailability = map[string]string{"drain": "drain", "pause": "pause", "activate": "active"}[action]
		default:
			return problem.Malformed("", fe("action", "must be approve, drain, pause or activate"))
		}
		if out, err = q.SetWorkerNodeDesired(ctx, p); err != nil {
			return err
		}
		return audit(ctx, q, caller(c), "node."+action, "node", n.SwarmNodeID, [16]byte{},
			map[string]any{"hostname": n.Hostname, "desired_availability": p.DesiredAvailability})
	})
	if err != nil {
		return err
	}
	return s.answerWorker(c, http.StatusAccepted, out)
}

// AdminRemoveWorker asks the node loop to drain and remove a node.
func (s *server) AdminRemoveWorker(c echo.Context, ident openapi.NodePath) error {
	ctx := c.Request().Context()
	var out store.WorkerNode
	err := s.Store.InTx(ctx, func(q *store.Queries) error {
		n, err := findWorker(ctx, q, ident)
		if err != nil {
			return err
		}
		if out, err = q.RequestWorkerNodeRemoval(ctx, n.ID); err != nil {
			return err
		}
		return audit(ctx, q, caller(c), "node.remove", "node", n.SwarmNodeID, [16]byte{}, map[string]any{"hostname": n.Hostname})
	})
	if err != nil {
		return err
	}
	return s.answerWorker(c, http.StatusAccepted, out)
}

// AdminWorkerJoinCommand answers the command that joins a worker, from
// what paasd init stored.
func (s *server) AdminWorkerJoinCommand(c echo.Context) error {
	ctx := c.Request().Context()
	ip, err := store.StringSetting(ctx, s.Store, settingSwarmManagerIP)
	if err != nil {
		return err
	}
	st, err := s.Store.GetSetting(ctx, settingJoinTokenWorker)
	if store.IsNotFound(err) || ip == "" {
		return problem.Conflict("no join token recorded: run paasd init on the manager first")
	}
	if err != nil {
		return err
	}
	token := ""
	if st.Sensitive {
		b, err := s.Box.Open(st.ValueEncrypted, secret.SettingAD(settingJoinTokenWorker))
		if err != nil {
			return fmt.Errorf("open %s: %w", settingJoinTokenWorker, err)
		}
		token = string(b)
	} else if st.Value != nil {
		token = *st.Value
	}
	if token == "" {
		return problem.Conflict("no join token recorded: run paasd init on the manager first")
	}
	addr := ip
	if _, _, err := net.SplitHostPort(ip); err != nil {
		addr = net.JoinHostPort(ip, "2377")
	}
	host, _, _ := net.SplitHostPort(addr)
	return c.JSON(http.StatusOK, openapi.JoinCommand{
		Command:        "docker swarm join --token " + token + " " + addr,
		SetupCommand:   "sudo bash hack/setup-worker.sh " + token + " " + host,
		ManagerAddress: addr,
	})
}

// findWorker finds a node by Swarm id, row id or hostname.
func findWorker(ctx context.Context, q *store.Queries, ident string) (store.WorkerNode, error) {
	n, err := q.GetWorkerNodeByIdent(ctx, ident)
	if store.IsNotFound(err) {
		return n, problem.NotFound(fmt.Sprintf("node %q not found", ident))
	}
	return n, err
}

// answerWorker answers one node with its alerts.
func (s *server) answerWorker(c echo.Context, code int, n store.WorkerNode) error {
	alerts, err := s.Store.ListNodeAlerts(c.Request().Context(), n.SwarmNodeID)
	if err != nil {
		return err
	}
	return c.JSON(code, workerOut(n, alerts))
}

func workerOut(n store.WorkerNode, alerts []store.PaasNodeAlert) openapi.Worker {
	labels := map[string]string{}
	if len(n.Labels) > 0 {
		_ = json.Unmarshal(n.Labels, &labels)
	}
	out := openapi.Worker{
		Id: n.ID, SwarmNodeId: n.SwarmNodeID, Hostname: n.Hostname, Status: store.NodeStatus(n), Role: n.Role, State: n.State,
		Availability: n.Availability, DesiredAvailability: n.DesiredAvailability, Approved: n.Approved, Address: n.Address,
		EngineVersion: n.EngineVersion, ManagerReachability: n.ManagerReachability, Leader: n.IsLeader,
		CpuMillis: n.CpuMillis, MemoryBytes: n.MemoryBytes, CpuReservedMillis: n.CpuReservedMillis,
		MemoryReservedBytes: n.MemoryReservedBytes, TasksRunning: int(n.TasksRunning), Labels: labels, Message: n.Message,
		Alerts: make([]openapi.WorkerAlert, 0, len(alerts)), RemoveRequestedAt: n.RemoveRequestedAt, LastSeenAt: n.LastSeenAt,
		HealthCheckedAt: n.HealthCheckedAt, ResourcesCheckedAt: n.ResourcesCheckedAt, CreatedAt: n.CreatedAt, UpdatedAt: n.UpdatedAt,
	}
	for _, a := range alerts {
		out.Alerts = append(out.Alerts, openapi.WorkerAlert{Kind: a.Kind, Firing: a.Firing, Since: a.Since, LastSentAt: a.LastSentAt})
	}
	return out
}
