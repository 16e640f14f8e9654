package v1

import (
	"bytes"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"
)

// sseWriter writes Server-Sent Events; any write error means the client
// has gone, and the stream should end.
type sseWriter struct {
	res *echo.Response
	buf bytes.Buffer
}

// startSSE commits a 200 text/event-stream answer.
func startSSE(c echo.Context) *sseWriter {
	h := c.Response().Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no") // no proxy buffering (nginx, Traefik honour it)
	c.Response().WriteHeader(http.StatusOK)
	w := &sseWriter{res: c.Response()}
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

func (w *sseWriter) flush() error {
	if _, err := w.res.Write(w.buf.Bytes()); err != nil {
		return err
	}
	w.res.Flush()
	return nil
}
