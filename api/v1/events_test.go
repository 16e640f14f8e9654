package v1_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/skypanel/paas/api/openapi"
	"github.com/skypanel/paas/store"
)

func (f *fixture) recordEvent(appID uuid.UUID, reason, msg string, at time.Time) store.Event {
	f.t.Helper()
	e, err := f.s.RecordEvent(context.Background(), store.RecordEventParams{ObjectKind: "app", ObjectID: appID, Type: "Normal",
		Reason: reason, Message: msg, ReportingController: "app", At: at})
	if err != nil {
		f.t.Fatal(err)
	}
	return e
}

func TestAppEvents(t *testing.T) {
	t.Parallel()
	f := setup(t)
	web := f.createApp(f.alice.token, "web", map[string]any{"image": "nginx"})
	other := f.createApp(f.alice.token, "other", map[string]any{"image": "nginx"})
	base := time.Now().Add(-time.Hour).UTC().Truncate(time.Microsecond)
	for i := 0; i < 5; i++ {
		f.recordEvent(web.Id, "Step", fmt.Sprintf("step %d", i), base.Add(time.Duration(i)*time.Minute))
	}
	f.recordEvent(other.Id, "Elsewhere", "not web's", base)

	// Sequential: the stream subtest records more events.
	t.Run("list newest first, paginated", func(t *testing.T) {
		f := f.on(t)
		var got []string
		cursor := ""
		for {
			var l openapi.EventList
			f.do(f.alice.token, "GET", "/api/paas/apps/web/events?limit=2&cursor="+cursor, nil).want(200).decode(&l)
			for _, e := range l.Items {
				got = append(got, e.Message)
			}
			if l.NextCursor == "" {
				break
			}
			cursor = l.NextCursor
		}
		if fmt.Sprint(got) != "[step 4 step 3 step 2 step 1 step 0]" {
			t.Fatalf("events %v", got)
		}
		f.do(f.alice.token, "GET", "/api/paas/apps/web/events?cursor=eA", nil).problem(400, "malformed-request")
	})
	t.Run("stream, with repeats and resume", func(t *testing.T) {
		f := f.on(t)
		st := f.stream(f.alice.token, "/api/paas/apps/web/events")
		var last sseEvent
		for i := 0; i < 5; i++ {
			last = st.next(wait)
			var e openapi.Event
			if err := json.Unmarshal([]byte(last.Data), &e); err != nil || last.Event != "event" || e.Message != fmt.Sprintf("step %d", i) {
				t.Fatalf("event %d: %+v", i, last)
			}
		}
		// A new event, then a repeat of an old one with its count.
		f.recordEvent(web.Id, "Ready", "all replicas run", time.Now())
		var e openapi.Event
		ev := st.next(wait)
		if json.Unmarshal([]byte(ev.Data), &e); e.Reason != "Ready" {
			t.Fatalf("event %+v", ev)
		}
		f.recordEvent(web.Id, "Step", "step 0", time.Now().Add(time.Second))
		ev = st.next(wait)
		if json.Unmarshal([]byte(ev.Data), &e); e.Message != "step 0" || e.Count != 2 {
			t.Fatalf("repeat %+v", ev)
		}
		// Resuming after the fifth event gives only what followed.
		rs := f.stream(f.alice.token, "/api/paas/apps/web/events", "Last-Event-ID", last.ID)
		if ev := rs.next(wait); json.Unmarshal([]byte(ev.Data), &e) != nil || e.Reason != "Ready" {
			t.Fatalf("resumed with %+v", ev)
		}
		if ev := rs.next(wait); json.Unmarshal([]byte(ev.Data), &e) != nil || e.Message != "step 0" || e.Count != 2 {
			t.Fatalf("resumed with %+v", ev)
		}
		rs.quiet(300 * time.Millisecond)
		f.do(f.alice.token, "GET", "/api/paas/apps/web/events", nil, "Accept", "text/event-stream", "Last-Event-ID", "x").problem(400, "malformed-request")
	})
}
