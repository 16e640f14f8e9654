package sse

import (
	"errors"
	"io"
	"strings"
	"testing"
)

func TestReader(t *testing.T) {
	stream := ": stream open\n\n" +
		"id: 7\nevent: app\ndata: {\"a\":1}\n\n" +
		": ping\n\n" +
		"event: stdout\r\ndata: line one\r\ndata:line two\r\n\r\n" +
		"data: plain\n\n" +
		"id: 9\n\n" +
		"event: synced\ndata:\n\n" +
		"event: cut\ndata: never dispatched"
	r := NewReader(strings.NewReader(stream))
	want := []Event{
		{ID: "7", Name: "app", Data: `{"a":1}`},
		{Name: "stdout", Data: "line one\nline two"},
		{Name: "message", Data: "plain"},
		{ID: "9", Name: "synced", Data: ""},
	}
	for i, w := range want {
		ev, err := r.Next()
		if err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
		if ev != w {
			t.Fatalf("event %d = %+v, want %+v", i, ev, w)
		}
	}
	if _, err := r.Next(); !errors.Is(err, io.EOF) {
		t.Fatalf("after the last event: %v, want EOF (a cut-off event is dropped)", err)
	}
}
