// Package api is paasd's HTTP surface: health endpoints, metrics and the v1
// API, served by echo. Handlers validate and record desired state; they
// never change anything in Docker.
package api

import (
	"cmp"
	"context"
	"errors"
	"net"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
)

// Server serves paasd's HTTP endpoints; configure it by fields, then Serve.
type Server struct {
	// Checks are run by /readyz; keys name them in the answer.
	Checks map[string]Checker
	// Metrics is gathered by /metrics; nil serves no metrics on this
	// server (paasd then serves them on PAAS_METRICS_LISTEN).
	Metrics prometheus.Gatherer
	// Requests, when set, counts and times every request by route and code.
	Requests *RequestMetrics
	// ReadyTimeout bounds /readyz's checks (default 2s).
	ReadyTimeout time.Duration
	// ShutdownTimeout bounds the graceful drain of open requests (default 10s).
	ShutdownTimeout time.Duration
	// ReadHeaderTimeout bounds reading a request's headers (default 10s).
	ReadHeaderTimeout time.Duration
	// ReadTimeout bounds reading a whole request, body included (default
	// 30s). It does not cut event streams: net/http clears the read
	// deadline once a request is read.
	ReadTimeout time.Duration
	// IdleTimeout bounds how long a kept-alive connection waits for its
	// next request (default 2m).
	IdleTimeout time.Duration
	// Register adds more routes (the v1 API) to the echo instance.
	Register func(e *echo.Echo)
}

// Handler builds the echo instance with every route.
func (s *Server) Handler(log zerolog.Logger) *echo.Echo {
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.Use(requestLogger(log, s.Requests))
	e.GET("/healthz", healthz)
	e.GET("/readyz", readyz(s.Checks, cmp.Or(s.ReadyTimeout, 2*time.Second)))
	if s.Metrics != nil {
		e.GET("/metrics", echo.WrapHandler(MetricsHandler(s.Metrics)))
	}
	if s.Register != nil {
		s.Register(e)
	}
	return e
}

// Serve answers on ln until ctx ends, then drains open requests.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	log := *zerolog.Ctx(ctx)
	// No WriteTimeout: it would cut every event stream. Streams bound
	// each message's write themselves (v1.StreamLimits.WriteTimeout), and
	// other answers are small and written at once.
	srv := &http.Server{
		Handler:           s.Handler(log),
		ReadHeaderTimeout: cmp.Or(s.ReadHeaderTimeout, 10*time.Second),
		ReadTimeout:       cmp.Or(s.ReadTimeout, 30*time.Second),
		IdleTimeout:       cmp.Or(s.IdleTimeout, 2*time.Minute),
		BaseContext:       func(net.Listener) context.Context { return ctx },
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cmp.Or(s.ShutdownTimeout, 10*time.Second))
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return err
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// requestLogger logs one line per request at debug level (info for errors),
// without query strings, which may carry tokens.
func requestLogger(log zerolog.Logger, metrics *RequestMetrics) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			start := time.Now()
			err := next(c)
			if err != nil {
				c.Error(err)
			}
			status := c.Response().Status
			if metrics != nil {
				metrics.observe(c, start)
			}
			ev := log.Debug()
			if status >= 500 {
				ev = log.Error()
			}
			ev.Str("method", c.Request().Method).Str("path", c.Request().URL.Path).
				Int("status", status).Dur("duration", time.Since(start)).Msg("request")
			return nil
		}
	}
}
