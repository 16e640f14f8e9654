package v1_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/skypanel/paas/api/openapi"
	"github.com/skypanel/paas/store"
	"github.com/skypanel/paas/store/secret"
)

func TestAdminWorkers(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx := context.Background()
	for _, n := range []store.UpsertWorkerNodeParams{
		{SwarmNodeID: "mgr1", Hostname: "alpha", Role: "manager", Availability: "active", State: "ready", CpuMillis: 2000, MemoryBytes: 4 << 30, Labels: []byte(`{"zone":"a"}`)},
		{SwarmNodeID: "wrk1", Hostname: "beta", Role: "worker", Availability: "drain", State: "ready", CpuMillis: 1000, MemoryBytes: 2 << 30, Labels: []byte(`{}`)},
	} {
		if _, err := f.s.UpsertWorkerNode(ctx, n); err != nil {
			t.Fatal(err)
		}
	}

	f.do(f.alice.token, "GET", "/api/admin/paas/workers", nil).problem(403, "forbidden")

	// Each node's alerts, read for a whole page at once, stay its own.
	if _, err := f.s.Pool.Exec(ctx, `INSERT INTO paas_node_alerts (swarm_node_id, kind, firing) VALUES
		('mgr1', 'cpu', true), ('mgr1', 'memory', false), ('wrk1', 'down', true)`); err != nil {
		t.Fatal(err)
	}
	var all openapi.WorkerList
	f.do(f.admin.token, "GET", "/api/admin/paas/workers", nil).want(200).decode(&all)
	got := map[string]string{}
	for _, w := range all.Items {
		var kinds []string
		for _, a := range w.Alerts {
			kinds = append(kinds, fmt.Sprintf("%s=%v", a.Kind, a.Firing))
		}
		got[w.SwarmNodeId] = strings.Join(kinds, ",")
	}
	if got["mgr1"] != "cpu=true,memory=false" || got["wrk1"] != "down=true" {
		t.Fatalf("alerts by node %v", got)
	}
	if _, err := f.s.Pool.Exec(ctx, `DELETE FROM paas_node_alerts`); err != nil {
		t.Fatal(err)
	}

	var l openapi.WorkerList
	f.do(f.admin.token, "GET", "/api/admin/paas/workers?limit=1", nil).want(200).decode(&l)
	if len(l.Items) != 1 || l.Items[0].Hostname != "alpha" || l.NextCursor == "" || l.Items[0].Labels["zone"] != "a" {
		t.Fatalf("page 1 = %+v", l)
	}
	f.do(f.admin.token, "GET", "/api/admin/paas/workers?cursor="+l.NextCursor, nil).want(200).decode(&l)
	if len(l.Items) != 1 || l.Items[0].Hostname != "beta" || l.Items[0].Status != "pending" || l.NextCursor != "" {
		t.Fatalf("page 2 = %+v", l)
	}

	var w openapi.Worker
	f.do(f.admin.token, "GET", "/api/admin/paas/workers/beta", nil).want(200).decode(&w)
	if w.SwarmNodeId != "wrk1" || w.Approved || w.DesiredAvailability != "drain" || w.Alerts == nil {
		t.Fatalf("beta = %+v", w)
	}
	f.do(f.admin.token, "GET", "/api/admin/paas/workers/nope", nil).problem(404, "not-found")
	f.do(f.admin.token, "POST", "/api/admin/paas/workers/wrk1/activate", nil).problem(409, "conflict")
	f.do(f.admin.token, "POST", "/api/admin/paas/workers/wrk1/explode", nil).want(400)

	f.do(f.admin.token, "POST", "/api/admin/paas/workers/wrk1/approve", nil).want(202).decode(&w)
	if !w.Approved || w.DesiredAvailability != "active" || w.Status != "active" {
		t.Fatalf("approved = %+v", w)
	}
	f.do(f.admin.token, "POST", "/api/admin/paas/workers/wrk1/approve", nil).problem(409, "conflict")
	for action, want := range map[string]string{"drain": "drain", "pause": "pause", "activate": "active"} {
		f.do(f.admin.token, "POST", "/api/admin/paas/workers/"+w.Id.String()+"/"+action, nil).want(202).decode(&w)
		if w.DesiredAvailability != want {
			t.Fatalf("%s: %+v", action, w)
		}
	}
	f.do(f.admin.token, "DELETE", "/api/admin/paas/workers/beta", nil).want(202).decode(&w)
	if w.Status != "removing" || w.DesiredAvailability != "drain" || w.RemoveRequestedAt == nil {
		t.Fatalf("removing = %+v", w)
	}
	f.do(f.admin.token, "POST", "/api/admin/paas/workers/beta/activate", nil).problem(409, "conflict")

	var audit openapi.AuditList
	f.do(f.admin.token, "GET", "/api/admin/paas/audit?action=node.approve", nil).want(200).decode(&audit)
	if len(audit.Items) != 1 {
		t.Fatalf("audit = %+v", audit)
	}
}

func TestAdminWorkerJoinCommand(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx := context.Background()
	f.do(f.admin.token, "GET", "/api/admin/paas/workers/join-command", nil).problem(409, "conflict")

	ip := "10.0.0.5"
	if err := f.s.PutSetting(ctx, store.PutSettingParams{Key: "swarm_manager_ip", Value: &ip}); err != nil {
		t.Fatal(err)
	}
	sealed, err := f.box.Seal([]byte("SWMTKN-1-abc"), secret.SettingAD("swarm_join_token_worker"))
	if err != nil {
		t.Fatal(err)
	}
	if err := f.s.PutSetting(ctx, store.PutSettingParams{Key: "swarm_join_token_worker", ValueEncrypted: sealed, Sensitive: true}); err != nil {
		t.Fatal(err)
	}
	var j openapi.JoinCommand
	f.do(f.admin.token, "GET", "/api/admin/paas/workers/join-command", nil).want(200).decode(&j)
	if j.Command != "docker swarm join --token SWMTKN-1-abc 10.0.0.5:2377" || j.ManagerAddress != "10.0.0.5:2377" ||
		!strings.HasSuffix(j.SetupCommand, "setup-worker.sh SWMTKN-1-abc 10.0.0.5") {
		t.Fatalf("join command = %+v", j)
	}
	f.do(f.alice.token, "GET", "/api/admin/paas/workers/join-command", nil).problem(403, "forbidden")
}
