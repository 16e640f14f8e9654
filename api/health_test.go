package api

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/rs/zerolog"
)

func TestReadyzReportsEachCheck(t *testing.T) {
	t.Parallel()
	ok := CheckerFunc(func(context.Context) (string, error) { return "v1", nil })
	bad := CheckerFunc(func(context.Context) (string, error) { return "", errors.New("connection refused") })
	for _, tc := range []struct {
		name   string
		checks map[string]Checker
		code   int
		status string
	}{
		{"all ok", map[string]Checker{"database": ok, "docker": ok}, 200, "ok"},
		{"docker down", map[string]Checker{"database": ok, "docker": bad}, 503, "error"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := (&Server{Checks: tc.checks}).Handler(zerolog.Nop())
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
			if rec.Code != tc.code {
				t.Fatalf("code = %d, want %d", rec.Code, tc.code)
			}
			var body readiness
			if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
				t.Fatal(err)
			}
			if body.Status != tc.status || len(body.Checks) != len(tc.checks) {
				t.Fatalf("body = %+v", body)
			}
			if d := body.Checks["docker"]; tc.status == "error" && (d.Status != "error" || d.Error != "connection refused") {
				t.Fatalf("docker check = %+v", d)
			}
		})
	}
}

func TestHealthzIsAlwaysOK(t *testing.T) {
	t.Parallel()
	h := (&Server{}).Handler(zerolog.Nop())
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/healthz", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("code = %d", rec.Code)
	}
}
