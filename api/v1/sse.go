package v1

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/skypanel/paas/api/problem"
)

// sseWriter writes Server-Sent Events; any write error means the client
// has gone (or stopped reading), and the stream should end.
type sseWriter struct {
	res *echo.Response
	// rc reaches the connection under echo's writer: its deadlines, and
	// flushes that report errors.
	rc *http.ResponseController
	// timeout bounds the sending of one message.
	timeout time.Duration
	buf     bytes.Buffer
}

// startSSE commits a 200 text/event-stream answer whose every message must
// be sent within writeTimeout.
func startSSE(c echo.Context, writeTimeout time.Duration) *sseWriter {
	h := c.Response().Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no") // no proxy buffering (nginx, Traefik honour it)
	// The server's ReadTimeout does not cut a stream: net/http clears the
	// read deadline once the request is read. A client that vanished is
	// found by the write deadline of the next message (a heartbeat at
	// the latest).
	c.Response().WriteHeader(http.StatusOK)
	w := &sseWriter{res: c.Response(), rc: http.NewResponseController(c.Response().Writer), timeout: writeTimeout}
	// An initial comment tells the client the stream is open at once.
	_ = w.comment("stream open")
	return w
}

// event writes one message; data may span lines (each becomes a data:
// field). A client ends a line at CRLF, LF or a lone CR, so each of them
// in data starts a new data: field: no text in data can start a field of
// its own (an event, id or retry) or end the message.
func (w *sseWriter) event(id, name, data string) error {
	w.buf.Reset()
	if id != "" {
		w.buf.WriteString("id: " + id + "\n")
	}
	if name != "" {
		w.buf.WriteString("event: " + name + "\n")
	}
	for {
		i := strings.IndexAny(data, "\r\n")
		if i < 0 {
			break
		}
		w.dataField(data[:i])
		if data[i] == '\r' && strings.HasPrefix(data[i+1:], "\n") {
			i++
		}
		data = data[i+1:]
	}
	w.dataField(data)
	w.buf.WriteByte('\n')
	return w.flush()
}

// dataField writes one data: field; line holds no CR or LF.
func (w *sseWriter) dataField(line string) {
	w.buf.WriteString("data: ")
	w.buf.WriteString(line)
	w.buf.WriteByte('\n')
}

// comment writes a comment line, which clients ignore: a heartbeat.
func (w *sseWriter) comment(text string) error {
	w.buf.Reset()
	w.buf.WriteString(": " + text + "\n\n")
	return w.flush()
}

// end writes the last message of a stream the server closes because its
// caller may no longer read it: event end, with the problem as data.
func (w *sseWriter) end(p *problem.Problem) error {
	b, err := json.Marshal(p)
	if err != nil {
		return err
	}
	return w.event("", "end", string(b))
}

// flush sends the buffered message within the write timeout: a client
// that stops reading fills the connection's buffers, the write fails at
// the deadline, and the stream ends instead of pinning its goroutine and
// whatever it reads from (a Docker log stream). The deadline is set per
// message because a stream lives far longer than any one write may take.
func (w *sseWriter) flush() error {
	if err := w.rc.SetWriteDeadline(time.Now().Add(w.timeout)); err != nil && !errors.Is(err, http.ErrNotSupported) {
		return err
	}
	if _, err := w.res.Write(w.buf.Bytes()); err != nil {
		return err
	}
	if err := w.rc.Flush(); err != nil && !errors.Is(err, http.ErrNotSupported) {
		return err
	}
	return nil
}
