package v1

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/skypanel/paas/api/problem"
	"github.com/skypanel/paas/store"
)

// buildLogChunk bounds the output one read of a followed build log takes
// from the database, and so one SSE message: a stream holds at most this
// much of the log at a time, however long the log.
const buildLogChunk = 64 << 10

// buildDone reports whether a build's status is final.
func buildDone(status string) bool { return status != "queued" && status != "building" }

// followBuildLog streams a build's log as SSE (docs/api.md): the output
// from lastEventID (a byte offset of the build's output, 0 without one),
// then new output as the runner appends it, then event end with the build
// when it has finished. Offsets count from the build's first byte of
// output and only grow, though the capped log drops its head
// (paas_builds.log_dropped), so a stream only ever reads the suffix past
// where it is. There is no notification of appends: the stream reads
// every BuildLogPoll, through the streams' share of the pool, and holds
// no connection while it writes to its client.
func (s *server) followBuildLog(c echo.Context, b store.PaasBuild, lastEventID *string) error {
	var from int64
	if lastEventID != nil && strings.TrimSpace(*lastEventID) != "" {
		n, err := strconv.ParseInt(strings.TrimSpace(*lastEventID), 10, 64)
		if err != nil || n < 0 {
			return problem.Malformed("", fe("Last-Event-ID", "must be an event id this stream sent (a byte offset)"))
		}
		from = n
	}
	st, err := s.openStream(c)
	if err != nil {
		return err
	}
	defer st.close()
	ctx := st.ctx
	w := st.start(c)
	poll := time.NewTicker(s.BuildLogPoll)
	defer poll.Stop()
	beat := time.NewTicker(s.Heartbeat)
	defer beat.Stop()
	bl := &buildLogStream{s: s, w: w, b: b, from: from}
	for {
		done, err := bl.send(ctx)
		if err != nil {
			if ctx.Err() == nil && !isClientGone(err) {
				s.log.Warn().Err(err).Str("app", b.AppID.String()).Int32("build", b.Number).Msg("build log stream ended")
			}
			return nil
		}
		if done {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-poll.C:
		case <-beat.C:
			if err := w.comment("ping"); err != nil {
				return nil
			}
		}
	}
}

// buildLogStream is one followed build log.
type buildLogStream struct {
	s    *server
	w    *sseWriter
	b    store.PaasBuild
	from int64 // the offset of the output sent so far
}

// send sends the output past bl.from, a chunk at a time, and, when the
// build has ended and all of it was sent, event end; done says the stream
// is over.
func (bl *buildLogStream) send(ctx context.Context) (done bool, err error) {
	for {
		var r store.ReadBuildLogFromRow
		err := bl.s.streams.read(ctx, func() (err error) {
			r, err = bl.s.Store.ReadBuildLogFrom(ctx, store.ReadBuildLogFromParams{AppID: bl.b.AppID, Number: bl.b.Number,
				FromOffset: bl.from, MaxBytes: buildLogChunk})
			return err
		})
		if store.IsNotFound(err) {
			// The app, and its builds with it, was deleted.
			return true, bl.w.end(problem.NotFound(fmt.Sprintf("build %d no longer exists: its app was deleted", bl.b.Number)))
		}
		if err != nil {
			return false, err
		}
		if bl.from < r.LogStart {
			// The cap dropped output this stream had not sent yet.
			if err := bl.w.event("", "truncated", fmt.Sprintf(`{"dropped_bytes":%d}`, r.LogStart-bl.from)); err != nil {
				return false, err
			}
			bl.from = r.LogStart
		}
		if bl.from > r.LogEnd {
			bl.from = r.LogEnd // an id past the end: follow from the end
		}
		chunk := wholeRunes(r.Chunk)
		if len(chunk) > 0 {
			bl.from += int64(len(chunk))
			if err := bl.w.event(strconv.FormatInt(bl.from, 10), "log", string(chunk)); err != nil {
				return false, err
			}
		}
		if bl.from < r.LogEnd {
			continue // more than one chunk was new
		}
		if !buildDone(r.Status) {
			return false, nil
		}
		// Status and output were read in one row: nothing more will come.
		var b store.PaasBuild
		if err := bl.s.streams.read(ctx, func() (err error) {
			b, err = bl.s.Store.GetBuild(ctx, bl.b.ID)
			return err
		}); err != nil {
			return false, err
		}
		data, err := json.Marshal(renderBuild(b))
		if err != nil {
			return false, err
		}
		return true, bl.w.event(strconv.FormatInt(bl.from, 10), "end", string(data))
	}
}

// wholeRunes cuts a chunk cut at a byte count back to its last whole
// UTF-8 character, so no message carries half of one (the rest starts
// the next chunk). A chunk without a character start is kept as it is.
func wholeRunes(b []byte) []byte {
	for i := len(b) - 1; i >= 0 && i >= len(b)-utf8.UTFMax; i-- {
		if utf8.RuneStart(b[i]) {
			if utf8.FullRune(b[i:]) {
				return b
			}
			if i == 0 {
				return b
			}
			return b[:i]
		}
	}
	return b
}
