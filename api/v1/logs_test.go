package v1_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/swarm"
	"github.com/docker/docker/client"
	"github.com/docker/docker/pkg/stdcopy"

	v1 "github.com/skypanel/paas/api/v1"
	"github.com/skypanel/paas/store"
	"github.com/skypanel/paas/store/storetest"
)

// dockerClient connects to the machine's engine, failing (never skipping)
// when none answers.
func dockerClient(t *testing.T) *client.Client {
	t.Helper()
	c, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		t.Fatalf("docker client: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	info, err := c.Info(ctx)
	if err != nil || info.Swarm.LocalNodeState != swarm.LocalNodeStateActive {
		t.Fatalf("Docker with an active Swarm is needed (run hack/docker-up.sh): %v %s", err, info.Swarm.LocalNodeState)
	}
	return c
}

// TestAppLogs reads a real Swarm service's logs through the API: the test
// plays the reconciler, creating the service and recording its id.
func TestAppLogs(t *testing.T) {
	t.Parallel()
	docker := dockerClient(t)
	f := setup(t, func(d *v1.Deps) { d.Docker = docker })
	ctx := context.Background()
	a := f.createApp(f.alice.token, "web", map[string]any{"image": "paas-testapp:v1"})

	// Before the service exists there is nothing to read.
	f.do(f.alice.token, "GET", "/api/paas/apps/web/logs", nil).problem(409, "conflict")

	replicas := uint64(1)
	instance := storetest.InstanceID(t)
	spec := swarm.ServiceSpec{
		Annotations: swarm.Annotations{Name: instance + "-logs", Labels: map[string]string{"paas.managed": "true", "paas.instance": instance, "paas.app.id": a.Id.String()}},
		TaskTemplate: swarm.TaskSpec{ContainerSpec: &swarm.ContainerSpec{Image: "paas-testapp:v1", Env: []string{"PORT=8080"}},
			RestartPolicy: &swarm.RestartPolicy{Condition: swarm.RestartPolicyConditionNone}},
		Mode: swarm.ServiceMode{Replicated: &swarm.ReplicatedService{Replicas: &replicas}},
	}
	created, err := docker.ServiceCreate(ctx, spec, swarm.ServiceCreateOptions{})
	if err != nil {
		t.Fatalf("create service: %v", err)
	}
	t.Cleanup(func() { _ = docker.ServiceRemove(context.Background(), created.ID) })
	sid := created.ID
	if err := f.s.UpdateAppStatus(ctx, store.UpdateAppStatusParams{ID: a.Id, Phase: "Running", Conditions: json.RawMessage(`[]`), ServiceID: &sid}); err != nil {
		t.Fatal(err)
	}

	var body string
	deadline := time.Now().Add(60 * time.Second)
	for !strings.Contains(body, "testapp v1 listening") {
		if time.Now().After(deadline) {
			t.Fatalf("no startup line in the logs: %q", body)
		}
		time.Sleep(300 * time.Millisecond)
		r := f.do(f.alice.token, "GET", "/api/paas/apps/web/logs?tail=50", nil).want(200)
		if !strings.HasPrefix(r.Header.Get("Content-Type"), "text/plain") {
			t.Fatalf("content type %s", r.Header.Get("Content-Type"))
		}
		body = string(r.Body)
	}
	// Timestamps and since work.
	r := f.do(f.alice.token, "GET", "/api/paas/apps/web/logs?timestamps=true&since=10m", nil).want(200)
	if !strings.Contains(string(r.Body), "testapp v1 listening") || !strings.HasPrefix(string(r.Body), time.Now().UTC().Format("2006-")) {
		t.Fatalf("timestamped logs %q", r.Body)
	}
	f.do(f.alice.token, "GET", "/api/paas/apps/web/logs?since=2999-01-01T00:00:00Z", nil).want(200)

	// Following streams lines as SSE.
	st := f.stream(f.alice.token, "/api/paas/apps/web/logs?follow=true&tail=10")
	if ev := st.until(20*time.Second, func(ev sseEvent) bool { return strings.Contains(ev.Data, "listening") }); ev.Event != "stdout" {
		t.Fatalf("event %+v", ev)
	}

	// Bad parameters.
	f.do(f.alice.token, "GET", "/api/paas/apps/web/logs?tail=-1", nil).problem(400, "malformed-request")
	f.do(f.alice.token, "GET", "/api/paas/apps/web/logs?tail=100000", nil).problem(400, "malformed-request")
	f.do(f.alice.token, "GET", "/api/paas/apps/web/logs?since=yesterday", nil).problem(400, "malformed-request")
	f.do(f.alice.token, "GET", "/api/paas/apps/web/logs?follow=maybe", nil).problem(400, "malformed-request")
}

func TestAppLogsWithoutDocker(t *testing.T) {
	t.Parallel()
	f := setup(t)
	f.createApp(f.alice.token, "web", map[string]any{"image": "nginx"})
	f.do(f.alice.token, "GET", "/api/paas/apps/web/logs", nil).problem(502, "docker-unavailable")
}

// fakeLogs stands in for Docker: every ServiceLogs call answers the stream
// the function builds, so the log path can be tested byte for byte and at
// sizes a real container would take minutes to print.
type fakeLogs func() io.Reader

func (f fakeLogs) ServiceLogs(context.Context, string, container.LogsOptions) (io.ReadCloser, error) {
	return io.NopCloser(f()), nil
}

// frames is a log stream as dockerd multiplexes it: each part is written
// as its own frame on stdout, or on stderr when it starts with "2>".
func frames(parts ...string) []byte {
	var b bytes.Buffer
	out, errw := stdcopy.NewStdWriter(&b, stdcopy.Stdout), stdcopy.NewStdWriter(&b, stdcopy.Stderr)
	for _, p := range parts {
		if rest, ok := strings.CutPrefix(p, "2>"); ok {
			_, _ = errw.Write([]byte(rest))
		} else {
			_, _ = out.Write([]byte(p))
		}
	}
	return b.Bytes()
}

// TestAppLogsLines reads logs as text through the handler from streams
// framed as Docker frames them: lines are put back together across frames,
// each stream separately, and a line over 64 KiB is cut there and marked.
func TestAppLogsLines(t *testing.T) {
	t.Parallel()
	const limit = 64 << 10
	x := strings.Repeat("x", limit)
	// é is two bytes: a cut at 64 KiB falls inside the last one.
	odd := "a" + strings.Repeat("é", limit/2)
	for _, tc := range []struct {
		name  string
		parts []string
		want  string
	}{
		{"lines across frames", []string{"one\ntw", "o\nth", "ree\n"}, "one\ntwo\nthree\n"},
		{"streams keep their own partial lines", []string{"out ", "2>err ", "line\n", "2>line\n"}, "out line\nerr line\n"},
		{"CRLF lines are kept as written", []string{"dos\r\n", "unix\n"}, "dos\r\nunix\n"},
		{"a last line without a newline", []string{"a\nb"}, "a\nb\n"},
		{"a line of exactly 64 KiB is whole", []string{x[:limit/2], x[limit/2:], "\nnext\n"}, x + "\nnext\n"},
		{"a longer line is cut and marked", []string{x, "yyyy", "zzz\nnext\n"}, x + " [truncated]\nnext\n"},
		{"the rest of a cut line is dropped up to its newline", []string{x + "y", strings.Repeat("z", 3*limit), "z\nnext\n"}, x + " [truncated]\nnext\n"},
		{"a cut keeps UTF-8 whole", []string{odd + "\n"}, odd[:limit-1] + " [truncated]\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			stream := frames(tc.parts...)
			f := setup(t, func(d *v1.Deps) {
				d.Docker = fakeLogs(func() io.Reader { return bytes.NewReader(stream) })
			})
			f.createApp(f.alice.token, "web", map[string]any{"image": "nginx"})
			r := f.do(f.alice.token, "GET", "/api/paas/apps/web/logs", nil).want(200)
			if string(r.Body) != tc.want {
				t.Fatalf("logs:\n got %.200q (%d bytes)\nwant %.200q (%d bytes)", r.Body, len(r.Body), tc.want, len(tc.want))
			}
		})
	}
}

// repeatedFrames is a stdcopy stream made on the fly: one frame sent n
// times, then tail; it holds one frame in memory, whatever n is.
type repeatedFrames struct {
	frame []byte
	n     int
	off   int
	tail  []byte
}

func (r *repeatedFrames) Read(p []byte) (int, error) {
	if r.n > 0 {
		k := copy(p, r.frame[r.off:])
		if r.off += k; r.off == len(r.frame) {
			r.off, r.n = 0, r.n-1
		}
		return k, nil
	}
	if len(r.tail) == 0 {
		return 0, io.EOF
	}
	k := copy(p, r.tail)
	r.tail = r.tail[k:]
	return k, nil
}

// TestAppLogsLongLineBoundedMemory follows a log whose first line is 64 MiB
// without a newline, in 16 KiB frames as dockerd sends them. The process
// (server and client both) may allocate 8 MiB for it all, an eighth of the
// line: what a request holds is bounded by the 64 KiB line limit, not by
// the line. (The old demultiplexer re-copied the growing line on every
// frame: 4.6 GiB for an 8 MiB line.) The test is not parallel with
// others, so the allocation count is its own.
func TestAppLogsLongLineBoundedMemory(t *testing.T) {
	const lineSize, frameSize = 64 << 20, 16 << 10
	var src *repeatedFrames
	f := setup(t, func(d *v1.Deps) {
		d.Docker = fakeLogs(func() io.Reader {
			src = &repeatedFrames{frame: frames(strings.Repeat("x", frameSize)), n: lineSize / frameSize, tail: frames("\nafter\n")}
			return src
		})
	})
	f.createApp(f.alice.token, "web", map[string]any{"image": "nginx"})

	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	events := readWire(t, f, "/api/paas/apps/web/logs?follow=true")
	runtime.ReadMemStats(&after)

	if src.n != 0 || len(src.tail) != 0 {
		t.Fatalf("the server stopped reading with %d frames left", src.n)
	}
	want := []wireEvent{
		{ID: "1", Event: "stdout", Data: strings.Repeat("x", 64<<10) + " [truncated]"},
		{ID: "2", Event: "stdout", Data: "after"},
		{Event: "end", Data: "{}"},
	}
	checkEvents(t, events, want)
	alloc := after.TotalAlloc - before.TotalAlloc
	t.Logf("streamed a %d MiB line: %.1f MiB allocated, heap in use %.1f MiB before, %.1f MiB after",
		lineSize>>20, float64(alloc)/(1<<20), float64(before.HeapInuse)/(1<<20), float64(after.HeapInuse)/(1<<20))
	if alloc >= 8<<20 {
		t.Fatalf("streaming a %d MiB line allocated %d MiB", lineSize>>20, alloc>>20)
	}
}

// TestAppLogsSSEFraming follows lines that carry carriage returns and text
// shaped like SSE fields: a client reading the stream as the standard says
// (CR, LF and CRLF all end a line) sees one message per log line, with the
// line's text as its data and no field the server did not write.
func TestAppLogsSSEFraming(t *testing.T) {
	t.Parallel()
	stream := frames(
		"plain\n",
		"a\rdata: evil\n",
		"2>b\r\ndata: evil\r\n",
		"x\r\revent: stderr\rid: 999\rretry: 1\rdata: forged\n",
		"progress 10%\rprogress 20%\r\n",
		"\r\n",
	)
	f := setup(t, func(d *v1.Deps) {
		d.Docker = fakeLogs(func() io.Reader { return bytes.NewReader(stream) })
	})
	f.createApp(f.alice.token, "web", map[string]any{"image": "nginx"})
	checkEvents(t, readWire(t, f, "/api/paas/apps/web/logs?follow=true"), []wireEvent{
		{ID: "1", Event: "stdout", Data: "plain"},
		{ID: "2", Event: "stdout", Data: "a\ndata: evil"},
		{ID: "3", Event: "stderr", Data: "b"},
		{ID: "4", Event: "stderr", Data: "data: evil"},
		{ID: "5", Event: "stdout", Data: "x\n\nevent: stderr\nid: 999\nretry: 1\ndata: forged"},
		{ID: "6", Event: "stdout", Data: "progress 10%\nprogress 20%"},
		{ID: "7", Event: "stdout", Data: ""},
		{Event: "end", Data: "{}"},
	})
}

// wireEvent is one message as a browser's EventSource dispatches it.
type wireEvent struct {
	ID, Event, Data string
	// Other lists fields other than id, event and data (browsers ignore
	// them; the server writes none).
	Other []string
}

// readWire follows an SSE route to its end and parses the whole answer by
// the HTML standard's rules: a line ends at CRLF, LF or a lone CR; an
// empty line dispatches the message; a line starting with ':' is a comment.
func readWire(t *testing.T, f *fixture, path string) []wireEvent {
	t.Helper()
	req, _ := http.NewRequest("GET", f.srv.URL+path, nil)
	req.Header.Set("Authorization", "Bearer "+f.alice.token)
	resp, err := f.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("GET %s: %d %s", path, resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var out []wireEvent
	var ev wireEvent
	var data []string
	for s := string(body); s != ""; {
		i := strings.IndexAny(s, "\r\n")
		if i < 0 {
			break // an unterminated last line is dropped
		}
		line := s[:i]
		if s[i] == '\r' && i+1 < len(s) && s[i+1] == '\n' {
			i++
		}
		s = s[i+1:]
		if line == "" {
			if data != nil {
				ev.Data = strings.Join(data, "\n")
				out = append(out, ev)
			}
			ev, data = wireEvent{}, nil
			continue
		}
		if strings.HasPrefix(line, ":") {
			continue
		}
		name, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch name {
		case "id":
			ev.ID = value
		case "event":
			ev.Event = value
		case "data":
			data = append(data, value)
		default:
			ev.Other = append(ev.Other, name)
		}
	}
	return out
}

func checkEvents(t *testing.T, got, want []wireEvent) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%d messages, want %d", len(got), len(want))
	}
	for i := range max(len(got), len(want)) {
		var g, w wireEvent
		if i < len(got) {
			g = got[i]
		}
		if i < len(want) {
			w = want[i]
		}
		if g.ID != w.ID || g.Event != w.Event || g.Data != w.Data || len(g.Other) > 0 {
			t.Errorf("message %d:\n got %+.200v\nwant %+.200v", i, g, w)
		}
	}
}

// TestAppLogsKeepReplacedTask: without Loki, Docker's service logs still
// answer a replaced task's lines while Swarm keeps the task.
func TestAppLogsKeepReplacedTask(t *testing.T) {
	t.Parallel()
	docker := dockerClient(t)
	f := setup(t, func(d *v1.Deps) { d.Docker = docker })
	ctx := context.Background()
	a := f.createApp(f.alice.token, "web", map[string]any{"image": "paas-testapp:v1"})
	replicas := uint64(1)
	instance := storetest.InstanceID(t)
	spec := swarm.ServiceSpec{
		Annotations: swarm.Annotations{Name: instance + "-replaced", Labels: map[string]string{"paas.managed": "true", "paas.instance": instance, "paas.app.id": a.Id.String()}},
		TaskTemplate: swarm.TaskSpec{ContainerSpec: &swarm.ContainerSpec{Image: "paas-testapp:v1", Env: []string{"PORT=8080"}},
			RestartPolicy: &swarm.RestartPolicy{Condition: swarm.RestartPolicyConditionNone}},
		Mode: swarm.ServiceMode{Replicated: &swarm.ReplicatedService{Replicas: &replicas}},
	}
	created, err := docker.ServiceCreate(ctx, spec, swarm.ServiceCreateOptions{})
	if err != nil {
		t.Fatalf("create service: %v", err)
	}
	t.Cleanup(func() { _ = docker.ServiceRemove(context.Background(), created.ID) })
	sid := created.ID
	if err := f.s.UpdateAppStatus(ctx, store.UpdateAppStatusParams{ID: a.Id, Phase: "Running", Conditions: json.RawMessage(`[]`), ServiceID: &sid}); err != nil {
		t.Fatal(err)
	}
	logs := func() string {
		return string(f.do(f.alice.token, "GET", "/api/paas/apps/web/logs?tail=all", nil).want(200).Body)
	}
	eventually := func(what string, ok func() bool) {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		for !ok() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s: %q", what, logs())
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	eventually("the first task's line", func() bool { return strings.Contains(logs(), "listening on :8080") })

	// Replace the task: a new spec (another port) is a new task.
	svc, _, err := docker.ServiceInspectWithRaw(ctx, created.ID, swarm.ServiceInspectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	svc.Spec.TaskTemplate.ContainerSpec.Env = []string{"PORT=8081"}
	if _, err := docker.ServiceUpdate(ctx, created.ID, svc.Version, svc.Spec, swarm.ServiceUpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually("the second task's line", func() bool { return strings.Contains(logs(), "listening on :8081") })
	body := logs()
	if !strings.Contains(body, "listening on :8080") {
		t.Fatalf("the replaced task's line is gone: %q", body)
	}
	// The replaced task still exists (shut down) beside the running one.
	tasks, err := docker.TaskList(ctx, swarm.TaskListOptions{Filters: filters.NewArgs(filters.Arg("service", created.ID))})
	if err != nil {
		t.Fatal(err)
	}
	var shutdown int
	for _, tk := range tasks {
		if tk.DesiredState == swarm.TaskStateShutdown {
			shutdown++
		}
	}
	if shutdown == 0 || len(tasks) < 2 {
		t.Fatalf("tasks %d, shut down %d: the first task should be kept", len(tasks), shutdown)
	}
	// Filters apply to Docker's lines too.
	if b := string(f.do(f.alice.token, "GET", "/api/paas/apps/web/logs?tail=all&grep=:8081", nil).want(200).Body); strings.Contains(b, ":8080") || !strings.Contains(b, ":8081") {
		t.Fatalf("grep :8081 answered %q", b)
	}
	if b := string(f.do(f.alice.token, "GET", "/api/paas/apps/web/logs?tail=all&level=error", nil).want(200).Body); b != "" {
		t.Fatalf("level=error answered %q", b)
	}
	f.do(f.alice.token, "GET", "/api/paas/apps/web/logs?direction=forward", nil).problem(422, "validation-failed")
}
