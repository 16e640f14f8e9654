package app

import (
	"reflect"
	"testing"
	"time"

	"github.com/skypanel/paas/store"
)

func TestRenderHealthCheck(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		in   store.HealthCheck
		want []string
	}{
		{"command", store.HealthCheck{Command: []string{"/testapp", "-healthcheck", "http://127.0.0.1:8080/health"}},
			[]string{"/testapp", "-healthcheck", "http://127.0.0.1:8080/health"}},
		{"path", store.HealthCheck{Path: "/health"},
			[]string{"/bin/sh", "-c", "wget -q -O /dev/null 'http://127.0.0.1:8080/health' || exit 1"}},
		{"path with a quote stays one word", store.HealthCheck{Path: "/x';rm -rf /;'"},
			[]string{"/bin/sh", "-c", `wget -q -O /dev/null 'http://127.0.0.1:8080/x'\'';rm -rf /;'\''' || exit 1`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := renderHealthCheck(tc.in, 8080)
			if !reflect.DeepEqual(got.Command, tc.want) {
				t.Fatalf("command = %q, want %q", got.Command, tc.want)
			}
			if got.Interval != 10*time.Second || got.Timeout != 5*time.Second || got.Retries != 3 {
				t.Fatalf("defaults = %+v", got)
			}
		})
	}
}

func TestParseKey(t *testing.T) {
	t.Parallel()
	if _, err := ParseKey("app/6f1c9a9e-5f7e-4a51-9f55-0d4f6ad1b0a1"); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"", "app/", "node/6f1c9a9e-5f7e-4a51-9f55-0d4f6ad1b0a1", "app/not-a-uuid"} {
		if _, err := ParseKey(bad); err == nil {
			t.Errorf("ParseKey(%q) accepted", bad)
		}
	}
}
