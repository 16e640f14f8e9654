package cli

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

const workerJSON = `{"id":"6f1c7f5e-8a43-4c1e-9d7b-0d6f4a0e2b11","swarm_node_id":"uwqsw572gcglpzuda12x4tthe","hostname":"worker-3",
"status":"%s","role":"worker","state":"ready","availability":"drain","desired_availability":"%s","approved":%s,"address":"10.0.0.3",
"engine_version":"20.10.24","manager_reachability":"","leader":false,"cpu_millis":2000,"memory_bytes":4294967296,
"cpu_reserved_millis":1900,"memory_reserved_bytes":268435456,"tasks_running":3,"labels":{},"message":"",
"alerts":[{"kind":"cpu","firing":true}],"created_at":"2026-01-01T00:00:00Z","updated_at":"2026-01-01T00:00:00Z"}`

func worker(status, desired, approved string) string {
	return fmt.Sprintf(workerJSON, status, desired, approved)
}

// TestAdminNodes: list, approve, drain and rm talk to the workers routes
// and say what the node loop will do.
func TestAdminNodes(t *testing.T) {
	mux := http.NewServeMux()
	var calls []string
	mux.HandleFunc("GET /api/admin/paas/workers", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"items":[`+worker("pending", "drain", "false")+`],"next_cursor":""}`)
	})
	mux.HandleFunc("POST /api/admin/paas/workers/{node}/{action}", func(w http.ResponseWriter, r *http.Request) {
		calls = append(calls, r.PathValue("node")+" "+r.PathValue("action"))
		w.WriteHeader(http.StatusAccepted)
		io.WriteString(w, worker("active", "active", "true"))
	})
	mux.HandleFunc("DELETE /api/admin/paas/workers/{node}", func(w http.ResponseWriter, r *http.Request) {
		calls = append(calls, r.PathValue("node")+" rm")
		w.WriteHeader(http.StatusAccepted)
		io.WriteString(w, worker("removing", "drain", "true"))
	})
	mux.HandleFunc("GET /api/admin/paas/workers/join-command", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"command":"docker swarm join --token T 10.0.0.1:2377","setup_command":"sudo bash hack/setup-worker.sh T 10.0.0.1","manager_address":"10.0.0.1:2377"}`)
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()

	out, errs, code := run(t, srv, "", "admin", "nodes", "list")
	if code != 0 || !strings.Contains(out, "worker-3") || !strings.Contains(out, "pending") ||
		!strings.Contains(out, "1900/2000m") || !strings.Contains(out, "cpu") {
		t.Fatalf("list: %d %q %q", code, out, errs)
	}
	if out, errs, code := run(t, srv, "", "admin", "nodes", "approve", "worker-3"); code != 0 ||
		out != "node/worker-3 approved: active, availability drain (desired active)\n" {
		t.Fatalf("approve: %d %q %q", code, out, errs)
	}
	if _, errs, code := run(t, srv, "", "admin", "nodes", "drain", "worker-3"); code != 0 {
		t.Fatalf("drain: %d %q", code, errs)
	}
	if out, errs, code := run(t, srv, "", "admin", "nodes", "rm", "worker-3"); code != 0 || !strings.Contains(out, "node/worker-3 removing") {
		t.Fatalf("rm: %d %q %q", code, out, errs)
	}
	if out, _, code := run(t, srv, "", "admin", "nodes", "join-command"); code != 0 || !strings.Contains(out, "docker swarm join --token T 10.0.0.1:2377") {
		t.Fatalf("join-command: %d %q", code, out)
	}
	if got := strings.Join(calls, ","); got != "worker-3 approve,worker-3 drain,worker-3 rm" {
		t.Fatalf("calls %s", got)
	}
}
