package api

import (
	"context"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
)

// Checker reports whether one dependency answers; the error says why not.
type Checker interface {
	Check(ctx context.Context) (detail string, err error)
}

// CheckerFunc adapts a function to Checker.
type CheckerFunc func(ctx context.Context) (string, error)

// Check calls f.
func (f CheckerFunc) Check(ctx context.Context) (string, error) { return f(ctx) }

// checkResult is one dependency's entry in the /readyz answer.
type checkResult struct {
	Status string `json:"status"`
	Detail string `json:"detail,omitempty"`
	Error  string `json:"error,omitempty"`
}

// readiness is the /readyz answer.
type readiness struct {
	Status string                 `json:"status"`
	Checks map[string]checkResult `json:"checks"`
}

// healthz answers 200 as long as the process serves HTTP: liveness only.
func healthz(c echo.Context) error {
	return c.JSON(http.StatusOK, map[string]string{"status": "ok"})
}

// readyz runs every check concurrently under one short deadline and answers
// 200 only when all pass, 503 otherwise, naming what failed.
func readyz(checks map[string]Checker, timeout time.Duration) echo.HandlerFunc {
	return func(c echo.Context) error {
		ctx, cancel := context.WithTimeout(c.Request().Context(), timeout)
		defer cancel()
		type named struct {
			name string
			res  checkResult
		}
		results := make(chan named, len(checks))
		for name, chk := range checks {
			go func() {
				detail, err := chk.Check(ctx)
				res := checkResult{Status: "ok", Detail: detail}
				if err != nil {
					res = checkResult{Status: "error", Error: err.Error()}
				}
				results <- named{name, res}
			}()
		}
		out := readiness{Status: "ok", Checks: make(map[string]checkResult, len(checks))}
		for range checks {
			r := <-results
			out.Checks[r.name] = r.res
			if r.res.Status != "ok" {
				out.Status = "error"
			}
		}
		code := http.StatusOK
		if out.Status != "ok" {
			code = http.StatusServiceUnavailable
		}
		return c.JSON(code, out)
	}
}
