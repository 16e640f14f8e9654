package v1

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/pkg/stdcopy"
	"github.com/labstack/echo/v4"

	"github.com/skypanel/paas/api/openapi"
	"github.com/skypanel/paas/api/problem"
	"github.com/skypanel/paas/deploy/loglabels"
)

const (
	defaultLogTail = 100
	maxLogTail     = 10000
	// maxLogBytes bounds a non-following answer.
	maxLogBytes = 32 << 20
	// maxLogLine bounds the bytes of one log line the API holds: a longer
	// line is cut there, marked, and the rest of it dropped, so a
	// container printing without newlines costs a constant amount of
	// memory per stream.
	maxLogLine = 64 << 10
	// logQueue is how many lines a follower holds between Docker and a
	// slow client: with maxLogLine, at most 1 MiB.
	logQueue = 16
)

// truncatedMarker ends a log line cut at maxLogLine, in both text and SSE
// answers (docs/api.md).
const truncatedMarker = " [truncated]"

func dockerUnavailable(detail string) *problem.Problem {
	return problem.New(http.StatusBadGateway, problem.TypeDockerUnavailable, "Docker unavailable", detail)
}

// GetAppLogs answers the app's logs: from Loki when it is configured,
// otherwise Docker's service logs; text, or SSE when following.
func (s *server) GetAppLogs(c echo.Context, ident openapi.AppPath, params openapi.GetAppLogsParams) error {
	app, err := s.findApp(c, ident)
	if err != nil {
		return err
	}
	q, err := s.parseLogQuery(params)
	if err != nil {
		return err
	}
	if s.Loki != "" {
		return s.lokiLogs(c, app.ID.String(), q)
	}
	if q.forward {
		return problem.Invalid(fe("direction", "Docker answers only backward (the newest lines); set LOKI_ENDPOINT for forward"))
	}
	opts := container.LogsOptions{
		ShowStdout: q.filter.Stream != "stderr", ShowStderr: q.filter.Stream != "stdout",
		Tail: q.tail, Follow: q.follow, Timestamps: q.timestamps,
	}
	if !q.since.IsZero() {
		opts.Since = strconv.FormatInt(q.since.Unix(), 10)
	}
	if !q.until.IsZero() {
		opts.Until = strconv.FormatInt(q.until.Unix(), 10)
	}
	if s.Docker == nil {
		return dockerUnavailable("this paasd has no Docker connection")
	}
	service := app.ServiceName
	if app.ServiceID != nil && *app.ServiceID != "" {
		service = *app.ServiceID
	}
	ctx := c.Request().Context()
	var st *stream
	if q.follow {
		// Before Docker is asked: the slot bounds Docker connections too,
		// and the guard's context ends the Docker stream with the
		// credential.
		if st, err = s.openStream(c); err != nil {
			return err
		}
		defer st.close()
		ctx = st.ctx
	}
	rc, err := s.Docker.ServiceLogs(ctx, service, opts)
	if err != nil {
		if errdefs.IsNotFound(err) {
			return problem.Conflict(fmt.Sprintf("app %q has no Swarm service yet (phase %s): there are no logs to read", app.Name, app.Phase))
		}
		if ctx.Err() != nil {
			return nil
		}
		s.log.Warn().Err(err).Str("app", app.ID.String()).Msg("service logs")
		return dockerUnavailable("Docker did not return the logs: " + err.Error())
	}
	defer rc.Close()
	if !q.follow {
		c.Response().Header().Set(echo.HeaderContentType, echo.MIMETextPlainCharsetUTF8)
		c.Response().Header().Set("Cache-Control", "no-store")
		c.Response().WriteHeader(http.StatusOK)
		_ = demux(io.LimitReader(rc, maxLogBytes), q.keep(func(_ string, line []byte, truncated bool) error {
			return writeLogLine(c.Response(), line, truncated)
		}))
		return nil
	}
	return s.followLogs(c, st, rc, q)
}

const (
	// defaultLokiSince is how far back a Loki read looks without since.
	defaultLokiSince = time.Hour
	// maxLokiLimit bounds the lines of one Loki answer.
	maxLokiLimit = 5000
	// maxLokiRange bounds until - since (Loki's own max_query_length is 721h).
	maxLokiRange = 30 * 24 * time.Hour
	// maxGrep bounds the grep filter's text.
	maxGrep = 256
)

// logQuery is a log request's parameters, checked.
type logQuery struct {
	tail         string // Docker's tail: a number or "all"
	limit        int    // Loki's limit
	since, until time.Time
	forward      bool
	filter       loglabels.Filter
	level        *regexp.Regexp // nil: every level
	follow       bool
	timestamps   bool
}

func (s *server) parseLogQuery(params openapi.GetAppLogsParams) (logQuery, error) {
	q := logQuery{tail: strconv.Itoa(defaultLogTail), limit: defaultLogTail}
	var errs []problem.FieldError
	if params.Tail != nil && *params.Tail != "" {
		if *params.Tail == "all" {
			q.tail, q.limit = "all", maxLokiLimit
		} else if n, err := strconv.Atoi(*params.Tail); err != nil || n < 0 || n > maxLogTail {
			errs = append(errs, fe("tail", fmt.Sprintf("must be a number of lines from 0 to %d, or all", maxLogTail)))
		} else {
			q.tail, q.limit = strconv.Itoa(n), min(n, maxLokiLimit)
		}
	}
	if params.Limit != nil {
		if n := *params.Limit; n < 1 || n > maxLokiLimit {
			errs = append(errs, fe("limit", fmt.Sprintf("must be from 1 to %d lines", maxLokiLimit)))
		} else {
			q.tail, q.limit = strconv.Itoa(n), n
		}
	}
	now := s.Now()
	for _, t := range []struct {
		name string
		v    *string
		into *time.Time
	}{{"since", params.Since, &q.since}, {"until", params.Until, &q.until}} {
		if t.v == nil || *t.v == "" {
			continue
		}
		v, err := parseSince(*t.v, now)
		if err != nil {
			errs = append(errs, fe(t.name, "must be an RFC 3339 time or a duration such as 10m"))
			continue
		}
		*t.into = v
	}
	if params.Direction != nil {
		switch *params.Direction {
		case "backward":
		case "forward":
			q.forward = true
		default:
			errs = append(errs, fe("direction", "must be backward or forward"))
		}
	}
	if params.Stream != nil {
		switch v := string(*params.Stream); v {
		case "stdout", "stderr":
			q.filter.Stream = v
		default:
			errs = append(errs, fe("stream", "must be stdout or stderr"))
		}
	}
	if params.Grep != nil && *params.Grep != "" {
		if len(*params.Grep) > maxGrep || !utf8.ValidString(*params.Grep) || strings.ContainsAny(*params.Grep, "\n\r") {
			errs = append(errs, fe("grep", fmt.Sprintf("must be one line of UTF-8 text of at most %d bytes", maxGrep)))
		} else {
			q.filter.Contains = *params.Grep
		}
	}
	if params.Level != nil && *params.Level != "" {
		pat, ok := loglabels.LevelPattern(string(*params.Level))
		if !ok {
			errs = append(errs, fe("level", "must be debug, info, warn or error"))
		} else {
			q.filter.Level = string(*params.Level)
			if pat != "" {
				q.level = regexp.MustCompile(pat)
			}
		}
	}
	q.follow = params.Follow != nil && *params.Follow
	q.timestamps = params.Timestamps != nil && *params.Timestamps
	if len(errs) > 0 {
		return q, problem.Malformed("", errs...)
	}
	if q.follow && !q.until.IsZero() {
		return q, problem.Invalid(fe("until", "cannot be combined with follow"))
	}
	if !q.since.IsZero() && !q.until.IsZero() {
		if q.until.Before(q.since) {
			return q, problem.Invalid(fe("until", "must not be before since"))
		}
		if q.until.Sub(q.since) > maxLokiRange {
			return q, problem.Invalid(fe("since", "until minus since must be at most 30 days (720h)"))
		}
	}
	return q, nil
}

// keep wraps fn so that only lines passing the grep and level filters
// reach it (Docker's path; Loki filters itself).
func (q logQuery) keep(fn lineFunc) lineFunc {
	if q.filter.Contains == "" && q.level == nil {
		return fn
	}
	grep := []byte(q.filter.Contains)
	return func(stream string, line []byte, truncated bool) error {
		if len(grep) > 0 && !bytes.Contains(line, grep) {
			return nil
		}
		if q.level != nil && !q.level.Match(line) {
			return nil
		}
		return fn(stream, line, truncated)
	}
}

// parseSince reads an RFC 3339 time or a duration before now.
func parseSince(v string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		return time.Time{}, errors.New("bad since")
	}
	return now.Add(-d), nil
}

// writeLogLine writes one line of a text answer: as Docker gave it (a CR
// before the newline kept), marked when it was cut.
func writeLogLine(w io.Writer, line []byte, truncated bool) error {
	if _, err := w.Write(line); err != nil {
		return err
	}
	end := "\n"
	if truncated {
		end = truncatedMarker + end
	}
	_, err := io.WriteString(w, end)
	return err
}

// logLine is a line on its way from Docker to a follower.
type logLine struct {
	stream string
	text   string // without its line ending, marked when it was cut
}

// followLogs streams log lines as SSE until the client leaves or the
// service's log ends.
func (s *server) followLogs(c echo.Context, st *stream, rc io.ReadCloser, q logQuery) error {
	ctx := st.ctx
	lines := make(chan logLine, logQueue)
	go func() {
		defer close(lines)
		_ = demux(rc, q.keep(func(stream string, line []byte, truncated bool) error {
			select {
			case lines <- logLine{stream, messageText(line, truncated)}:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		}))
	}()
	w := st.start(c)
	beat := time.NewTicker(s.Heartbeat)
	defer beat.Stop()
	var seq int64
	for {
		select {
		case <-ctx.Done():
			rc.Close()
			return nil
		case l, ok := <-lines:
			if !ok {
				_ = w.event("", "end", "{}")
				return nil
			}
			seq++
			if err := w.event(strconv.FormatInt(seq, 10), l.stream, l.text); err != nil {
				rc.Close()
				return nil
			}
		case <-beat.C:
			if err := w.comment("ping"); err != nil {
				rc.Close()
				return nil
			}
		}
	}
}

// messageText is a line as a follower's message carries it: without the
// CR of a CRLF ending, marked when it was cut.
func messageText(line []byte, truncated bool) string {
	if truncated {
		return string(line) + truncatedMarker
	}
	return string(bytes.TrimSuffix(line, []byte("\r")))
}

// lineFunc receives one log line of a stream ("stdout" or "stderr")
// without its newline; truncated says it was cut at maxLogLine. line is
// only valid during the call.
type lineFunc func(stream string, line []byte, truncated bool) error

// demux reads a service's log as Docker multiplexes it (the reconcilers
// never give a service a TTY, so it always is) and calls fn with each
// line of each stream, stopping at the first error fn returns. A last line
// without a newline is passed on when the log ends.
func demux(r io.Reader, fn lineFunc) error {
	stdout := &lineSplitter{stream: "stdout", fn: fn}
	stderr := &lineSplitter{stream: "stderr", fn: fn}
	if _, err := stdcopy.StdCopy(stdout, stderr, r); err != nil {
		return err
	}
	if err := stdout.flush(); err != nil {
		return err
	}
	return stderr.flush()
}

// lineSplitter is the io.Writer one demultiplexed stream is copied into: it
// cuts what it is given into lines for fn. Each byte is copied at most
// once, into a pending line of at most maxLogLine bytes; a line that
// arrives whole in one write is passed on without a copy.
type lineSplitter struct {
	stream  string
	fn      lineFunc
	pending []byte // the start of a line whose newline has not come yet
	discard bool   // the line being read was cut: drop it up to its newline
}

// Write splits p at its newlines.
func (s *lineSplitter) Write(p []byte) (int, error) {
	for rest := p; len(rest) > 0; {
		piece, after, ended := bytes.Cut(rest, []byte{'\n'})
		if err := s.add(piece, ended); err != nil {
			return len(p) - len(rest), err
		}
		rest = after
	}
	return len(p), nil
}

// add takes the next piece of the current line; ended says a newline
// followed it.
func (s *lineSplitter) add(piece []byte, ended bool) error {
	if s.discard {
		s.discard = !ended
		return nil
	}
	if room := maxLogLine - len(s.pending); len(piece) > room {
		line := s.join(piece[:room])
		s.discard = !ended
		return s.fn(s.stream, cutToRune(line), true)
	}
	if !ended {
		if s.pending == nil {
			// Once, at its full size: growing it would copy it again.
			s.pending = make([]byte, 0, maxLogLine)
		}
		s.pending = append(s.pending, piece...)
		return nil
	}
	return s.fn(s.stream, s.join(piece), false)
}

// join is the pending line followed by piece, and empties the pending
// line; the result is only valid until the next add.
func (s *lineSplitter) join(piece []byte) []byte {
	if len(s.pending) == 0 {
		return piece
	}
	line := append(s.pending, piece...)
	s.pending = s.pending[:0]
	return line
}

// flush passes on a last line that had no newline.
func (s *lineSplitter) flush() error {
	if len(s.pending) == 0 {
		return nil
	}
	return s.fn(s.stream, s.join(nil), false)
}

// cutToRune drops an incomplete UTF-8 sequence from the end of a cut line,
// so cutting never turns valid text into invalid text.
func cutToRune(b []byte) []byte {
	for i := len(b) - 1; i >= 0 && i >= len(b)-utf8.UTFMax; i-- {
		if utf8.RuneStart(b[i]) {
			if !utf8.FullRune(b[i:]) {
				return b[:i]
			}
			break
		}
	}
	return b
}
