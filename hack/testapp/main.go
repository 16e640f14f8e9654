// Command testapp is the small HTTP workload that SkyPanel's integration
// tests deploy on Docker Swarm.
//
// It listens on :$PORT (default 8080) and serves:
//
//	GET /        JSON {"version": ..., "hostname": ..., "env": {...}}, where env
//	             holds the variables named in ECHO_ENV (comma-separated).
//	GET /health  200 "ok", or 503 when TESTAPP_UNHEALTHY=1.
//
// Its behaviour is steered by environment variables:
//
//	TESTAPP_CRASH=1               print a message to stderr and exit 1 at start
//	                              (TESTAPP_CRASH=0 overrides crashByDefault)
//	TESTAPP_START_DELAY=<dur>     sleep that long (a Go duration) before listening
//	TESTAPP_UNHEALTHY=1           make /health answer 503
//
// With -healthcheck URL it instead GETs URL and exits 0 on a 2xx answer, 1
// otherwise; the image has no shell, so Swarm healthchecks run
// ["CMD", "/testapp", "-healthcheck", "http://127.0.0.1:8080/health"].
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Set at build time with -ldflags "-X main.version=v1 -X main.crashByDefault=true".
// Both are strings because -X can only set string variables.
var (
	version        = "dev"
	crashByDefault = "false"
)

const (
	healthcheckTimeout = 2 * time.Second
	shutdownTimeout    = 5 * time.Second
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr))
}

// run is the whole program; it returns the process exit code. The server
// shuts down gracefully when ctx is cancelled.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("testapp", flag.ContinueOnError)
	fs.SetOutput(stderr)
	checkURL := fs.String("healthcheck", "", "GET `URL`, exit 0 on a 2xx answer and 1 otherwise, then quit")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *checkURL != "" {
		return healthcheck(*checkURL, healthcheckTimeout, stderr)
	}

	if shouldCrash(getenv("TESTAPP_CRASH"), crashByDefault) {
		fmt.Fprintln(stderr, "testapp: crashing on purpose (TESTAPP_CRASH=1)")
		return 1
	}

	logger := log.New(stdout, "", 0)
	if d := getenv("TESTAPP_START_DELAY"); d != "" {
		delay, err := time.ParseDuration(d)
		if err != nil {
			fmt.Fprintf(stderr, "testapp: bad TESTAPP_START_DELAY: %v\n", err)
			return 1
		}
		logger.Printf("testapp %s: delaying start by %s", version, delay)
		select {
		case <-time.After(delay):
		case <-ctx.Done():
			return 0
		}
	}

	port := getenv("PORT")
	if port == "" {
		port = "8080"
	}
	addr := ":" + port
	srv := &http.Server{
		Addr:              addr,
		Handler:           logRequests(logger, newHandler(version, getenv)),
		ReadHeaderTimeout: 10 * time.Second,
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Fprintf(stderr, "testapp: %v\n", err)
		return 1
	}
	logger.Printf("testapp %s listening on %s", version, addr)

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		fmt.Fprintf(stderr, "testapp: %v\n", err)
		return 1
	case <-ctx.Done():
	}

	logger.Printf("testapp %s shutting down", version)
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		fmt.Fprintf(stderr, "testapp: shutdown: %v\n", err)
		return 1
	}
	return 0
}

// shouldCrash reports whether the app must crash at start. A set
// TESTAPP_CRASH wins ("1"/"true" crash, anything else does not); otherwise
// the build-time default decides.
func shouldCrash(env, byDefault string) bool {
	if env != "" {
		crash, _ := strconv.ParseBool(env)
		return crash
	}
	crash, _ := strconv.ParseBool(byDefault)
	return crash
}

// newHandler returns the app's routes. getenv is consulted on every request,
// so tests can swap the environment.
func newHandler(version string, getenv func(string) string) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		hostname, err := os.Hostname()
		if err != nil {
			hostname = "unknown"
		}
		env := map[string]string{}
		for _, name := range strings.Split(getenv("ECHO_ENV"), ",") {
			if name = strings.TrimSpace(name); name != "" {
				env[name] = getenv(name)
			}
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(struct {
			Version  string            `json:"version"`
			Hostname string            `json:"hostname"`
			Env      map[string]string `json:"env"`
		}{version, hostname, env})
	})
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if getenv("TESTAPP_UNHEALTHY") == "1" {
			w.WriteHeader(http.StatusServiceUnavailable)
			io.WriteString(w, "unhealthy\n")
			return
		}
		io.WriteString(w, "ok\n")
	})
	return mux
}

// statusRecorder remembers the status code a handler wrote.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}

// logRequests logs one line per request: method, path, status and duration.
func logRequests(logger *log.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(rec, r)
		logger.Printf("%s %s %d %s %s", r.Method, r.URL.RequestURI(), rec.status, time.Since(start).Round(time.Microsecond), r.RemoteAddr)
	})
}

// healthcheck GETs url and returns 0 on a 2xx answer, 1 otherwise, saying
// why on stderr.
func healthcheck(url string, timeout time.Duration, stderr io.Writer) int {
	client := &http.Client{Timeout: timeout}
	resp, err := client.Get(url)
	if err != nil {
		fmt.Fprintf(stderr, "healthcheck: %v\n", err)
		return 1
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		fmt.Fprintf(stderr, "healthcheck: %s: status %s\n", url, resp.Status)
		return 1
	}
	return 0
}
