package v1

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/labstack/echo/v4"

	"github.com/skypanel/paas/api/openapi"
	"github.com/skypanel/paas/api/problem"
)

const (
	defaultLogTail = 100
	maxLogTail     = 10000
	// maxLogBytes bounds a non-following answer.
	maxLogBytes = 32 << 20
)

func dockerUnavailable(detail string) *problem.Problem {
	return problem.New(http.StatusBadGateway, problem.TypeDockerUnavailable, "Docker unavailable", detail)
}

// GetAppLogs answers the app's service logs from Docker: text, or SSE when
// following.
func (s *server) GetAppLogs(c echo.Context, ident openapi.AppPath, params openapi.GetAppLogsParams) error {
	app, err := s.findApp(c, ident)
	if err != nil {
		return err
	}
	opts := container.LogsOptions{ShowStdout: true, ShowStderr: true, Tail: strconv.Itoa(defaultLogTail)}
	var errs []problem.FieldError
	if params.Tail != nil && *params.Tail != "" {
		if *params.Tail == "all" {
			opts.Tail = "all"
		} else if n, err := strconv.Atoi(*params.Tail); err != nil || n < 0 || n > maxLogTail {
			errs = append(errs, fe("tail", fmt.Sprintf("must be a number of lines from 0 to %d, or all", maxLogTail)))
		} else {
			opts.Tail = strconv.Itoa(n)
		}
	}
	if params.Since != nil && *params.Since != "" {
		since, err := parseSince(*params.Since, s.Now())
		if err != nil {
			errs = append(errs, fe("since", "must be an RFC 3339 time or a duration such as 10m"))
		} else {
			opts.Since = strconv.FormatInt(since.Unix(), 10)
		}
	}
	if len(errs) > 0 {
		return problem.Malformed("", errs...)
	}
	follow := params.Follow != nil && *params.Follow
	opts.Follow = follow
	opts.Timestamps = params.Timestamps != nil && *params.Timestamps
	if s.Docker == nil {
		return dockerUnavailable("this paasd has no Docker connection")
	}
	service := app.ServiceName
	if app.ServiceID != nil && *app.ServiceID != "" {
		service = *app.ServiceID
	}
	ctx := c.Request().Context()
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
	if !follow {
		c.Response().Header().Set(echo.HeaderContentType, echo.MIMETextPlainCharsetUTF8)
		c.Response().Header().Set("Cache-Control", "no-store")
		c.Response().WriteHeader(http.StatusOK)
		_ = demux(io.LimitReader(rc, maxLogBytes), func(_ string, line []byte) error {
			_, err := c.Response().Write(line)
			return err
		})
		return nil
	}
	return s.followLogs(c, rc)
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

type logLine struct {
	stream string
	text   string
}

// followLogs streams log lines as SSE until the client leaves or the
// service's log ends.
func (s *server) followLogs(c echo.Context, rc io.ReadCloser) error {
	ctx := c.Request().Context()
	lines := make(chan logLine, 64)
	go func() {
		defer close(lines)
		_ = demux(rc, func(stream string, line []byte) error {
			select {
			case lines <- logLine{stream, strings.TrimRight(string(line), "\r\n")}:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		})
	}()
	w := startSSE(c)
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

// demux splits Docker's multiplexed log stream (8-byte headers: stream,
// 0, 0, 0, big-endian size) into lines, calling fn with "stdout" or
// "stderr" and each line (newline included). A stream without headers (a
// service with a TTY) is passed through as stdout.
func demux(r io.Reader, fn func(stream string, line []byte) error) error {
	br := bufio.NewReaderSize(r, 64<<10)
	hdr, err := br.Peek(8)
	if err != nil && len(hdr) == 0 {
		return err
	}
	if len(hdr) < 8 || hdr[0] > 2 || hdr[1] != 0 || hdr[2] != 0 || hdr[3] != 0 {
		return eachLine(br, "stdout", fn)
	}
	var pending [3][]byte // partial lines per stream
	h := make([]byte, 8)
	for {
		if _, err := io.ReadFull(br, h); err != nil {
			for i, p := range pending {
				if len(p) > 0 {
					_ = fn(streamName(byte(i)), append(p, '\n'))
				}
			}
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				return nil
			}
			return err
		}
		size := binary.BigEndian.Uint32(h[4:])
		if h[0] > 2 || size > 16<<20 {
			return errors.New("malformed log stream")
		}
		payload := make([]byte, size)
		if _, err := io.ReadFull(br, payload); err != nil {
			return nil
		}
		st := h[0]
		buf := append(pending[st], payload...)
		for {
			i := bytes.IndexByte(buf, '\n')
			if i < 0 {
				break
			}
			if err := fn(streamName(st), buf[:i+1]); err != nil {
				return err
			}
			buf = buf[i+1:]
		}
		pending[st] = append([]byte(nil), buf...)
	}
}

func eachLine(br *bufio.Reader, stream string, fn func(string, []byte) error) error {
	for {
		line, err := br.ReadBytes('\n')
		if len(line) > 0 {
			if line[len(line)-1] != '\n' {
				line = append(line, '\n')
			}
			if ferr := fn(stream, line); ferr != nil {
				return ferr
			}
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
	}
}

func streamName(b byte) string {
	if b == 2 {
		return "stderr"
	}
	return "stdout"
}
