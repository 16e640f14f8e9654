package v1

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/skypanel/paas/api/problem"
	"github.com/skypanel/paas/deploy/loglabels"
)

// followBatch bounds the lines one poll of a Loki follow asks for; more
// are read by the next poll, which starts after the last line delivered.
const followBatch = 1000

// lokiEntry is one log line from Loki.
type lokiEntry struct {
	ts     int64 // Unix nanoseconds
	stream string
	line   string
}

// lokiStreams is the data of Loki's query_range answer for a log query
// (resultType "streams"), as documented at
// https://grafana.com/docs/loki/latest/reference/loki-http-api/#query-logs-within-a-range-of-time.
type lokiStreams struct {
	Status string `json:"status"`
	Data   struct {
		ResultType string `json:"resultType"`
		Result     []struct {
			Stream map[string]string `json:"stream"`
			Values [][2]string       `json:"values"`
		} `json:"result"`
	} `json:"data"`
}

// upstreamUnavailable is the 502 for Loki or Prometheus failing.
func upstreamUnavailable(what, detail string) *problem.Problem {
	return problem.New(http.StatusBadGateway, problem.TypeUpstreamUnavailable, what+" unavailable", detail)
}

// upstreamGet GETs base+path?query with UpstreamTimeout and reads at most
// limit bytes of a 200 answer into out.
func (s *server) upstreamGet(ctx context.Context, what, base, path string, query url.Values, limit int64, out any) error {
	ctx, cancel := context.WithTimeout(ctx, s.UpstreamTimeout)
	defer cancel()
	u := strings.TrimSuffix(base, "/") + path + "?" + query.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	resp, err := s.HTTPClient.Do(req)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("%s did not answer within %s", what, s.UpstreamTimeout)
		}
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err // the URL is in the message already
		}
		return fmt.Errorf("%s at %s: %v", what, base, err)
	}
	defer resp.Body.Close()
	body := io.LimitReader(resp.Body, limit)
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(body, 512))
		return fmt.Errorf("%s answered %s: %s", what, resp.Status, strings.TrimSpace(string(msg)))
	}
	if err := json.NewDecoder(body).Decode(out); err != nil {
		return fmt.Errorf("%s's answer does not read: %v", what, err)
	}
	return nil
}

// lokiQuery asks Loki's query_range for the lines of query in [start,
// end], at most limit of them from the end direction says, and answers
// them oldest first.
func (s *server) lokiQuery(ctx context.Context, query string, start, end time.Time, limit int, forward bool) ([]lokiEntry, error) {
	dir := "backward"
	if forward {
		dir = "forward"
	}
	v := url.Values{
		"query":     {query},
		"start":     {strconv.FormatInt(start.UnixNano(), 10)},
		"end":       {strconv.FormatInt(end.UnixNano(), 10)},
		"limit":     {strconv.Itoa(limit)},
		"direction": {dir},
	}
	var ans lokiStreams
	if err := s.upstreamGet(ctx, "Loki", s.Loki, "/loki/api/v1/query_range", v, maxLogBytes, &ans); err != nil {
		return nil, err
	}
	if ans.Status != "success" || ans.Data.ResultType != "streams" {
		return nil, fmt.Errorf("Loki answered status %q, result type %q; want success, streams", ans.Status, ans.Data.ResultType)
	}
	var out []lokiEntry
	for _, r := range ans.Data.Result {
		stream := cmp.Or(r.Stream[loglabels.Stream], "stdout")
		for _, val := range r.Values {
			ts, err := strconv.ParseInt(val[0], 10, 64)
			if err != nil {
				return nil, fmt.Errorf("Loki answered a timestamp %q that is not nanoseconds", val[0])
			}
			out = append(out, lokiEntry{ts: ts, stream: stream, line: val[1]})
		}
	}
	// Streams come separately: merge them by time (stable, so lines of one
	// stream with equal timestamps keep Loki's order).
	slices.SortStableFunc(out, func(a, b lokiEntry) int { return cmp.Compare(a.ts, b.ts) })
	if len(out) > limit {
		if forward {
			out = out[:limit]
		} else {
			out = out[len(out)-limit:]
		}
	}
	return out, nil
}

// cutLine bounds one Loki line as Docker's are bounded; truncated says it
// was cut.
func cutLine(line string) (string, bool) {
	if len(line) <= maxLogLine {
		return strings.TrimSuffix(line, "\r"), false
	}
	return string(cutToRune([]byte(line[:maxLogLine]))), true
}

// lokiLogs answers GET .../logs from Loki.
func (s *server) lokiLogs(c echo.Context, appID string, q logQuery) error {
	query := loglabels.Query(appID, q.filter)
	now := s.Now()
	start := q.since
	if start.IsZero() {
		start = now.Add(-defaultLokiSince)
	}
	end := q.until
	if end.IsZero() {
		end = now
	}
	if end.Sub(start) > maxLokiRange {
		return problem.Invalid(fe("since", "the range read from Loki must be at most 30 days (720h)"))
	}
	if q.follow {
		return s.followLoki(c, query, start, q)
	}
	entries, err := s.lokiQuery(c.Request().Context(), query, start, end, q.limit, q.forward)
	if err != nil {
		if c.Request().Context().Err() != nil {
			return nil
		}
		s.log.Warn().Err(err).Str("app", appID).Msg("loki query")
		return upstreamUnavailable("Loki", err.Error())
	}
	c.Response().Header().Set(echo.HeaderContentType, echo.MIMETextPlainCharsetUTF8)
	c.Response().Header().Set("Cache-Control", "no-store")
	c.Response().WriteHeader(http.StatusOK)
	for _, e := range entries {
		line, cut := cutLine(e.line)
		if q.timestamps {
			line = time.Unix(0, e.ts).UTC().Format(time.RFC3339Nano) + " " + line
		}
		if err := writeLogLine(c.Response(), []byte(line), cut); err != nil {
			return nil
		}
	}
	return nil
}

// followLoki streams the app's lines as SSE: first the last limit lines
// since start (or, resuming with Last-Event-ID, every line after that
// one), then, every LokiPoll, the lines after the last one delivered.
// Each message's id is the line's timestamp in nanoseconds. A line Loki
// receives later than a newer line of the app was delivered (another
// replica's Promtail lagging) is not delivered.
func (s *server) followLoki(c echo.Context, query string, start time.Time, q logQuery) error {
	s.lokiFollowers.Add(1)
	defer s.lokiFollowers.Add(-1)
	var after int64 = -1
	if id := c.Request().Header.Get("Last-Event-ID"); id != "" {
		if n, err := strconv.ParseInt(id, 10, 64); err == nil && n > 0 {
			// Never further back than a Loki query may reach.
			after = max(n, s.Now().Add(-maxLokiRange).UnixNano())
		}
	}
	st, err := s.openStream(c)
	if err != nil {
		return err
	}
	defer st.close()
	ctx := st.ctx
	var first []lokiEntry
	if after < 0 {
		// The first answer can still be a problem.
		first, err = s.lokiQuery(ctx, query, start, s.Now(), q.limit, false)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return upstreamUnavailable("Loki", err.Error())
		}
		after = start.UnixNano() - 1
	}
	w := st.start(c)
	send := func(entries []lokiEntry) bool {
		for _, e := range entries {
			if e.ts <= after {
				continue
			}
			line, cut := cutLine(e.line)
			if cut {
				line += truncatedMarker
			}
			if err := w.event(strconv.FormatInt(e.ts, 10), e.stream, line); err != nil {
				return false
			}
			after = e.ts
		}
		return true
	}
	if !send(first) {
		return nil
	}
	poll := time.NewTicker(s.LokiPoll)
	defer poll.Stop()
	beat := time.NewTicker(s.Heartbeat)
	defer beat.Stop()
	failing := false
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-beat.C:
			if err := w.comment("ping"); err != nil {
				return nil
			}
		case <-poll.C:
			// A full batch means more are waiting: read on at once.
			for n := followBatch; n == followBatch; {
				entries, err := s.lokiQuery(ctx, query, time.Unix(0, after+1), s.Now(), followBatch, true)
				if err != nil {
					if ctx.Err() != nil {
						return nil
					}
					if !failing {
						// Once per outage: the follow goes on and catches up.
						s.log.Warn().Err(err).Msg("loki follow")
						if w.comment("loki unavailable: "+strings.ReplaceAll(err.Error(), "\n", " ")) != nil {
							return nil
						}
					}
					failing = true
					break
				}
				failing = false
				if !send(entries) {
					return nil
				}
				n = len(entries)
			}
		}
	}
}
