// Package sse reads a Server-Sent Events stream (the watch, events and
// logs endpoints of the API).
package sse

import (
	"bufio"
	"cmp"
	"io"
	"strings"
)

// Event is one dispatched message.
type Event struct {
	// ID is the message's id field ("" when it had none).
	ID string
	// Name is the event field; "message" when absent, as the standard says.
	Name string
	// Data is the data fields joined by newlines.
	Data string
}

// Reader reads events from a stream.
type Reader struct {
	r *bufio.Reader
}

// NewReader reads events from r.
func NewReader(r io.Reader) *Reader {
	return &Reader{r: bufio.NewReaderSize(r, 64<<10)}
}

// Next returns the next event. Comments are skipped. At the end of the
// stream it returns io.EOF (an event cut off by the end is dropped, as the
// standard says).
func (r *Reader) Next() (Event, error) {
	var ev Event
	var data []string
	hasData := false
	for {
		line, err := r.r.ReadString('\n')
		if err != nil {
			if err == io.EOF {
				return Event{}, io.EOF
			}
			return Event{}, err
		}
		line = strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")
		if line == "" {
			if !hasData {
				ev = Event{ID: ev.ID}
				// A blank line without data dispatches nothing; an id
				// alone still moves the last event id, which the caller
				// cannot see here, so it is kept for the next event.
				continue
			}
			ev.Name = cmp.Or(ev.Name, "message")
			ev.Data = strings.Join(data, "\n")
			return ev, nil
		}
		if strings.HasPrefix(line, ":") {
			continue
		}
		field, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch field {
		case "event":
			ev.Name = value
		case "data":
			data = append(data, value)
			hasData = true
		case "id":
			if !strings.ContainsRune(value, 0) {
				ev.ID = value
			}
		}
	}
}
