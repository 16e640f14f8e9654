package v1_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/skypanel/paas/api/openapi"
	"github.com/skypanel/paas/api/problem"
	v1 "github.com/skypanel/paas/api/v1"
	"github.com/skypanel/paas/store"
)

// buildLogFixture is an app with one build, claimed as the runner would,
// whose log the test appends to as the runner does.
type buildLogFixture struct {
	*fixture
	build store.PaasBuild
	path  string
}

func newBuildLogFixture(t *testing.T, opts ...func(*v1.Deps)) *buildLogFixture {
	f := setup(t, append([]func(*v1.Deps){func(d *v1.Deps) { d.BuildLogPoll = 20 * time.Millisecond }}, opts...)...)
	app := f.createApp(f.alice.token, "src", map[string]any{"image": "paas-testapp:v1"})
	ctx := context.Background()
	if _, err := f.s.QueueBuild(ctx, app.Id, "main", "api"); err != nil {
		t.Fatal(err)
	}
	b, err := f.s.ClaimBuild(ctx, 60)
	if err != nil {
		t.Fatal(err)
	}
	return &buildLogFixture{fixture: f, build: b, path: "/api/paas/apps/src/builds/1/logs"}
}

func (f *buildLogFixture) append(chunk string, maxBytes int32) {
	f.t.Helper()
	if err := f.s.AppendBuildLog(context.Background(), store.AppendBuildLogParams{ID: f.build.ID, Chunk: chunk, MaxBytes: maxBytes}); err != nil {
		f.t.Fatal(err)
	}
}

func (f *buildLogFixture) finish(status string) {
	f.t.Helper()
	if _, err := f.s.FinishBuild(context.Background(), store.FinishBuildParams{ID: f.build.ID, Status: status, Message: "done"}); err != nil {
		f.t.Fatal(err)
	}
}

// nextLog is the next log (or truncated) event, skipping comments.
func nextLog(st *sseStream) sseEvent {
	st.t.Helper()
	return st.until(wait, func(ev sseEvent) bool { return ev.Event == "log" || ev.Event == "truncated" || ev.Event == "end" })
}

// TestBuildLogStream: Accept text/event-stream follows a build's log:
// what exists, then each append as it comes (only the new bytes, each
// event's id the byte offset after it), a resume from Last-Event-ID, a
// long append in chunks that never split a UTF-8 character, a note of
// output the cap dropped before a stream read it, and event end with the
// build once it finished, after which the server closes the stream. The
// text answer stays the default.
func TestBuildLogStream(t *testing.T) {
	t.Parallel()
	f := newBuildLogFixture(t)
	const max = 1 << 20
	f.append("--- cloning\n", max)

	st := f.stream(f.alice.token, f.path)
	if ev := nextLog(st); ev.Event != "log" || ev.Data != "--- cloning\n" || ev.ID != "12" {
		t.Fatalf("first event %+v", ev)
	}
	st.quiet(100 * time.Millisecond) // nothing new, nothing sent
	f.append("Step 1/2 : FROM scratch\n", max)
	if ev := nextLog(st); ev.Data != "Step 1/2 : FROM scratch\n" || ev.ID != "36" {
		t.Fatalf("second event %+v", ev)
	}

	// A resume sends only what follows its id.
	re := f.stream(f.alice.token, f.path, "Last-Event-ID", "12")
	if ev := nextLog(re); ev.Data != "Step 1/2 : FROM scratch\n" || ev.ID != "36" {
		t.Fatalf("resumed event %+v", ev)
	}
	re.close()
	f.do(f.alice.token, http.MethodGet, f.path, nil, "Accept", "text/event-stream", "Last-Event-ID", "x").
		problem(http.StatusBadRequest, problem.TypeMalformed)

	// A long line arrives in chunks, whole characters each, that add up.
	long := "x" + strings.Repeat("é", 40_000) + "\n"
	f.append(long, max)
	var got strings.Builder
	var last sseEvent
	for got.Len() < len(long) {
		last = nextLog(st)
		if last.Event != "log" || !strings.HasPrefix(long[got.Len():], last.Data) {
			t.Fatalf("chunk %d bytes at %d does not continue the line", len(last.Data), got.Len())
		}
		got.WriteString(last.Data)
	}
	if want := strconv.Itoa(36 + len(long)); last.ID != want {
		t.Fatalf("id after the long line %s, want %s", last.ID, want)
	}

	// The runner's last line and the outcome: event end with the build,
	// then the server closes the stream.
	f.append("--- build_failed: builder: boom\n", max)
	f.finish("build_failed")
	if ev := nextLog(st); ev.Data != "--- build_failed: builder: boom\n" {
		t.Fatalf("last line %+v", ev)
	}
	end := nextLog(st)
	var b openapi.Build
	if err := json.Unmarshal([]byte(end.Data), &b); end.Event != "end" || err != nil || b.Status != "build_failed" || b.Number != 1 {
		t.Fatalf("end event %+v (%v)", end, err)
	}
	st.closed(wait)

	// A stream of a finished build sends the log and ends at once.
	done := f.stream(f.alice.token, f.path, "Last-Event-ID", strconv.Itoa(36+len(long)))
	if ev := nextLog(done); ev.Data != "--- build_failed: builder: boom\n" {
		t.Fatalf("finished build's stream %+v", ev)
	}
	if ev := nextLog(done); ev.Event != "end" {
		t.Fatalf("finished build's stream %+v", ev)
	}
	done.closed(wait)

	// Plain text without Accept: the whole log.
	r := f.do(f.alice.token, http.MethodGet, f.path, nil).want(200)
	if !strings.HasPrefix(string(r.Body), "--- cloning\n") || !strings.HasSuffix(string(r.Body), "boom\n") {
		t.Fatalf("text log %q…", string(r.Body)[:40])
	}
}

// TestBuildLogStreamCapped: output the size cap dropped before a stream
// read it is reported as event truncated with its size, and the stream
// goes on from the oldest byte still kept; offsets stay those of the
// whole output.
func TestBuildLogStreamCapped(t *testing.T) {
	t.Parallel()
	f := newBuildLogFixture(t)
	f.append("0123456789\n", 16) // 11 bytes
	f.append("abcdefghij\n", 16) // 22: the first 6 are dropped
	st := f.stream(f.alice.token, f.path)
	ev := nextLog(st)
	if ev.Event != "truncated" || ev.Data != `{"dropped_bytes":6}` {
		t.Fatalf("first event %+v", ev)
	}
	if ev := nextLog(st); ev.Data != "6789\nabcdefghij\n" || ev.ID != "22" {
		t.Fatalf("kept tail %+v", ev)
	}
	// A stream that is keeping up never misses a byte though the log rolls.
	f.append("KLMNO\n", 16)
	if ev := nextLog(st); ev.Data != "KLMNO\n" || ev.ID != "28" {
		t.Fatalf("after the roll %+v", ev)
	}
	f.finish("succeeded")
	if ev := nextLog(st); ev.Event != "end" || !strings.Contains(ev.Data, `"status":"succeeded"`) {
		t.Fatalf("end %+v", ev)
	}
}

// TestBuildLogStreamEndsWithCredential: a followed build log is a stream
// like the others: it ends, with event end carrying the problem, when its
// API token is revoked, and counts against the per-user stream cap.
func TestBuildLogStreamEndsWithCredential(t *testing.T) {
	t.Parallel()
	f := newBuildLogFixture(t, func(d *v1.Deps) { d.Streams.PerUser = 1 })
	tok, id := f.apiToken(f.alice, nil)
	st := f.stream(tok, f.path)
	f.append("--- cloning\n", 1<<20)
	if ev := nextLog(st); ev.Data != "--- cloning\n" {
		t.Fatalf("first event %+v", ev)
	}
	// Alice's one stream is open: a second is refused.
	f.do(f.alice.token, http.MethodGet, f.path, nil, "Accept", "text/event-stream").problem(http.StatusTooManyRequests, "limit-exceeded")
	f.revoke(id)
	p, _ := st.endOf(wait)
	wantProblem(t, p, http.StatusUnauthorized, problem.TypeUnauthorized)
}
