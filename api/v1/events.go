package v1

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/skypanel/paas/api/openapi"
	"github.com/skypanel/paas/api/problem"
	"github.com/skypanel/paas/store"
)

func eventOut(e store.Event) openapi.Event {
	return openapi.Event{Id: e.ID, Type: openapi.EventType(e.Type), Reason: e.Reason, Message: e.Message,
		ReportingController: e.ReportingController, Count: int(e.Count), FirstTimestamp: e.FirstTimestamp, LastTimestamp: e.LastTimestamp}
}

// eventKey is an event's position in a stream: its last_timestamp and id,
// written "<unix microseconds>-<id>" as cursor and SSE id.
func eventKey(e store.Event) string {
	return strconv.FormatInt(e.LastTimestamp.UnixMicro(), 10) + "-" + strconv.FormatInt(e.ID, 10)
}

func parseEventKey(field, s string) (time.Time, int64, error) {
	ts, id, ok := strings.Cut(s, "-")
	micros, err1 := strconv.ParseInt(ts, 10, 64)
	n, err2 := strconv.ParseInt(id, 10, 64)
	if !ok || err1 != nil || err2 != nil || n < 0 {
		return time.Time{}, 0, problem.Malformed("", fe(field, "is not an id this API gave"))
	}
	return time.UnixMicro(micros).UTC(), n, nil
}

func wantsEventStream(c echo.Context) bool {
	return strings.Contains(c.Request().Header.Get("Accept"), "text/event-stream")
}

// ListAppEvents answers the app's events as JSON, or streams them as SSE.
func (s *server) ListAppEvents(c echo.Context, ident openapi.AppPath, params openapi.ListAppEventsParams) error {
	app, err := s.findApp(c, ident)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	if wantsEventStream(c) {
		var after time.Time
		var afterID int64
		if params.LastEventID != nil && *params.LastEventID != "" {
			if after, afterID, err = parseEventKey("Last-Event-ID", *params.LastEventID); err != nil {
				return err
			}
		}
		st, err := s.openStream(c)
		if err != nil {
			return err
		}
		defer st.close()
		return s.streamEvents(c, st, app, after, afterID)
	}
	limit, err := pageLimit(params.Limit)
	if err != nil {
		return err
	}
	p := store.APIListAppEventsParams{ObjectID: app.ID, Lim: int32(limit + 1)}
	if cur, err := decodeCursor(params.Cursor); err != nil {
		return err
	} else if cur != "" {
		if p.BeforeTs, p.BeforeID, err = parseEventKey("cursor", cur); err != nil {
			return err
		}
		if p.BeforeID == 0 {
			p.BeforeID = -1 // id 0 means "no cursor" to the query; nothing is before it anyway
		}
	}
	rows, err := s.Store.APIListAppEvents(ctx, p)
	if err != nil {
		return err
	}
	items, next, err := page(rows, limit, func(e store.Event) (openapi.Event, error) { return eventOut(e), nil }, eventKey)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, openapi.EventList{Items: items, NextCursor: next})
}

// streamEvents streams the app's events recorded (or repeated) after a
// position, oldest first, until the client leaves or its credential ends.
// It reads when the shared event feed says the app has news, and on every
// heartbeat besides, so a missed wake-up only delays an event.
func (s *server) streamEvents(c echo.Context, st *stream, app store.App, after time.Time, afterID int64) error {
	ctx := st.ctx
	wake, unsubscribe := s.hub.events.subscribe(app.ID, s.EventsPoll)
	defer unsubscribe()
	w := st.start(c)
	beat := time.NewTicker(s.Heartbeat)
	defer beat.Stop()
	for {
		if err := s.sendEventsSince(ctx, w, app.ID, &after, &afterID); err != nil {
			if ctx.Err() == nil && !isClientGone(err) {
				s.log.Warn().Err(err).Msg("event stream ended")
			}
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-wake:
		case <-beat.C:
			if err := w.comment("ping"); err != nil {
				return nil
			}
		}
	}
}

// sendEventsSince sends every event of app after the position, in pages,
// and moves the position past them.
func (s *server) sendEventsSince(ctx context.Context, w *sseWriter, app uuid.UUID, after *time.Time, afterID *int64) error {
	for {
		rows, err := s.Store.APIAppEventsSince(ctx, store.APIAppEventsSinceParams{ObjectID: app, AfterTs: *after, AfterID: *afterID})
		if err != nil {
			return err
		}
		for _, e := range rows {
			b, err := json.Marshal(eventOut(e))
			if err != nil {
				return err
			}
			if err := w.event(eventKey(e), "event", string(b)); err != nil {
				return err
			}
			*after, *afterID = e.LastTimestamp, e.ID
		}
		if len(rows) < 500 {
			return nil
		}
	}
}
