// Package v1 is the HTTP API of paasd: authentication, organizations, apps,
// releases, env, watch, logs, the catalogue and the admin routes, as the
// OpenAPI document in api/openapi describes them.
//
// Handlers validate requests and write desired state to Postgres, then
// answer at once; reconcilers converge Swarm on it. The only Docker calls
// are reading an app's logs and clearing an app's build cache (a cache of
// the engine's, not desired state).
package v1

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"regexp"
	"strings"
	"sync/atomic"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/jackc/pgx/v5"
	"github.com/labstack/echo/v4"
	"github.com/rs/zerolog"
	"golang.org/x/sync/singleflight"

	"github.com/skypanel/paas/api/openapi"
	"github.com/skypanel/paas/api/problem"
	"github.com/skypanel/paas/store"
	"github.com/skypanel/paas/store/secret"
)

// DockerLogs is the one Docker call the API makes: reading a service's logs.
// *client.Client satisfies it.
type DockerLogs interface {
	ServiceLogs(ctx context.Context, serviceID string, options container.LogsOptions) (io.ReadCloser, error)
}

// Deps is what the API needs; Store, Box and JWTSecret are required.
type Deps struct {
	// Store is the database.
	Store *store.Store
	// Box seals env values and sensitive settings.
	Box *secret.Box
	// JWTSecret signs and verifies login tokens (HS256).
	JWTSecret []byte
	// Docker reads app logs; nil answers 502 on the logs route.
	Docker DockerLogs
	// BuildCache clears an app's build cache (DELETE …/build-cache) on the
	// engine; nil answers 503 there.
	BuildCache BuildCache
	// Loki is the base URL of Loki (LOKI_ENDPOINT): when set, app logs are
	// read from it instead of Docker.
	Loki string
	// LokiPoll is how often following Loki asks for new lines (default 1s).
	LokiPoll time.Duration
	// Prometheus is the base URL of the Prometheus HTTP API per-app metrics
	// are read from (VITE_PROMETHEUS_URL); empty answers 503.
	Prometheus string
	// PrometheusAppLabel is the series label holding an app's id
	// (VITE_PROMETHEUS_APP_LABEL, default container_label_paas_app_id).
	PrometheusAppLabel string
	// UpstreamTimeout bounds each call to Loki or Prometheus (default 10s).
	UpstreamTimeout time.Duration
	// HTTPClient makes the calls to Loki and Prometheus (default a client
	// of its own, without an overall timeout: UpstreamTimeout bounds each).
	HTTPClient *http.Client
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Logger receives server errors; request lines are logged by api.Server.
	Logger zerolog.Logger
	// TokenTTL is the lifetime of login tokens (default 24h).
	TokenTTL time.Duration
	// BodyLimit bounds request bodies in bytes (default 1 MiB).
	BodyLimit int64
	// LoginAttemptsPerMinute bounds login attempts per client address over
	// a sliding minute (default 10); failures of one email from one address
	// back off besides (see loginLimiter). Attempts are counted in Postgres,
	// so the bound holds across every replica.
	LoginAttemptsPerMinute int
	// LoginBackoffBase and LoginBackoffMax shape the backoff of failed
	// logins of one email from one address: after 5 attempts, each further
	// one waits LoginBackoffBase (default 1s) after the previous, doubled
	// per attempt, at most LoginBackoffMax (default 5m).
	LoginBackoffBase, LoginBackoffMax time.Duration
	// TrustedProxies are the peers (Traefik) whose X-Forwarded-For names
	// the client's address for the login limits and request logs; from any
	// other peer the header is ignored. Empty: no proxy is trusted.
	TrustedProxies []netip.Prefix
	// Heartbeat is the interval of keep-alive comments on event streams,
	// and of the watch's safety re-read (default 15s).
	Heartbeat time.Duration
	// EventsPoll is how often an event stream looks for new events (default 1s).
	EventsPoll time.Duration
	// BuildLogPoll is how often a followed build log (GET
	// …/builds/{n}/logs as SSE) looks for new output (default 500ms).
	BuildLogPoll time.Duration
	// Streams caps the concurrent streams per user and organization and
	// bounds each message's write (see StreamLimits for defaults).
	Streams StreamLimits
	// ListCachePages bounds the rendered pages of GET /api/paas/apps kept
	// for reuse while their organization is unchanged (default 256;
	// negative disables the cache).
	ListCachePages int
	// CacheRecheck bounds how long a cached answer (a page of GET
	// /api/paas/apps, an authenticated credential) is trusted on change
	// notifications alone, while Run follows them, before it is confirmed
	// against the database again (default 1s). Notifications make changes
	// show at once; this only bounds what a stuck listener could hide.
	CacheRecheck time.Duration
	// StripeURL overrides Stripe's API base URL (tests point it at a fake).
	StripeURL string
	// ReconnectDelay is the pause before Run reconnects its listener (default 1s).
	ReconnectDelay time.Duration
}

// API serves the v1 routes; build it with New and add it to echo with Register.
type API struct {
	s *server
}

// server holds the handlers; its exported methods implement
// openapi.ServerInterface and are not part of this package's API.
type server struct {
	Deps
	specJSON []byte
	logins   *loginLimiter
	hub      *hub
	streams  *streamSlots
	lists    *listCache         // nil when disabled
	renders  singleflight.Group // pages of GET /api/paas/apps being rendered
	creds    credCache
	fresh    *freshness
	jwts     verifiedJWTs
	log      zerolog.Logger
	// lokiFollowers counts the Loki follows running (tests wait on it).
	lokiFollowers atomic.Int64
}

// New builds the API. It panics when a required dependency is missing, as
// that is a wiring bug.
func New(d Deps) *API {
	if d.Store == nil || d.Box == nil || len(d.JWTSecret) == 0 {
		panic("v1.New: Store, Box and JWTSecret are required")
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.TokenTTL <= 0 {
		d.TokenTTL = 24 * time.Hour
	}
	if d.BodyLimit <= 0 {
		d.BodyLimit = 1 << 20
	}
	if d.LoginAttemptsPerMinute <= 0 {
		d.LoginAttemptsPerMinute = 10
	}
	d.LoginBackoffBase = cmp.Or(max(d.LoginBackoffBase, 0), time.Second)
	d.LoginBackoffMax = max(cmp.Or(max(d.LoginBackoffMax, 0), 5*time.Minute), d.LoginBackoffBase)
	if d.Heartbeat <= 0 {
		d.Heartbeat = 15 * time.Second
	}
	if d.EventsPoll <= 0 {
		d.EventsPoll = time.Second
	}
	if d.BuildLogPoll <= 0 {
		d.BuildLogPoll = 500 * time.Millisecond
	}
	if d.CacheRecheck <= 0 {
		d.CacheRecheck = time.Second
	}
	if d.LokiPoll <= 0 {
		d.LokiPoll = time.Second
	}
	if d.UpstreamTimeout <= 0 {
		d.UpstreamTimeout = 10 * time.Second
	}
	if d.PrometheusAppLabel == "" {
		d.PrometheusAppLabel = DefaultPrometheusAppLabel
	}
	if d.HTTPClient == nil {
		d.HTTPClient = &http.Client{Transport: &http.Transport{
			Proxy: http.ProxyFromEnvironment, MaxIdleConnsPerHost: 8, IdleConnTimeout: 90 * time.Second,
			ResponseHeaderTimeout: d.UpstreamTimeout,
		}}
	}
	s := &server{Deps: d, log: d.Logger.With().Str("subsystem", "api").Logger()}
	s.specJSON = mustSpecJSON()
	s.logins = newLoginLimiter(d.Store, d.LoginAttemptsPerMinute,
		backoff{base: d.LoginBackoffBase, max: d.LoginBackoffMax}, d.Now, d.JWTSecret)
	s.hub = newHub(d.Store, s.log)
	s.streams = newStreamSlots(d.Streams, int(d.Store.Pool.Config().MaxConns))
	s.fresh = newFreshness()
	switch {
	case d.ListCachePages == 0:
		s.lists = newListCache(256)
	case d.ListCachePages > 0:
		s.lists = newListCache(d.ListCachePages)
	}
	return &API{s: s}
}

// ChangesApplicationName is the application_name of Run's connection, to
// find it in pg_stat_activity.
const ChangesApplicationName = "paasd-api-changes"

// Run follows the database's change notifications until ctx ends, so that
// repeated reads (authentication, GET /api/paas/apps) are answered from
// memory while nothing they show has changed. Without Run every request
// reads the database; it returns nil when ctx ends.
func (a *API) Run(ctx context.Context) error {
	cfg := a.s.Store.Pool.Config().ConnConfig.Copy()
	cfg.RuntimeParams["application_name"] = ChangesApplicationName
	connect := func(ctx context.Context) (*pgx.Conn, error) { return pgx.ConnectConfig(ctx, cfg.Copy()) }
	ctx = a.s.log.With().Str("loop", "api-cache").Logger().WithContext(ctx)
	return a.s.fresh.follow(ctx, connect, a.s.ReconnectDelay)
}

// Register adds every v1 route to e and makes errors under /api/ answer as
// problem documents.
func (a *API) Register(e *echo.Echo) {
	s := a.s
	if e.IPExtractor == nil {
		// c.RealIP() (request logs) agrees with the login limits, which
		// call clientAddr themselves whatever the extractor.
		e.IPExtractor = func(r *http.Request) string { return clientAddr(r, s.TrustedProxies) }
	}
	prev := e.HTTPErrorHandler
	e.HTTPErrorHandler = func(err error, c echo.Context) {
		if !strings.HasPrefix(c.Request().URL.Path, "/api/") {
			prev(err, c)
			return
		}
		s.writeError(c, err)
	}
	openapi.RegisterHandlersWithOptions(guardedRouter{e}, s, openapi.RegisterHandlersOptions{
		OperationMiddlewares: s.operationMiddlewares(),
	})
}

// guardedRouter refuses to register a route without middleware: every
// operation gets at least the body limit and, unless public,
// authentication, so a route without any means its operationId was not
// matched and it would be served unauthenticated.
type guardedRouter struct{ e *echo.Echo }

func (g guardedRouter) check(path string, m []echo.MiddlewareFunc) {
	if len(m) == 0 {
		panic("v1: route " + path + " would be registered without middleware (authentication)")
	}
}

func (g guardedRouter) CONNECT(p string, h echo.HandlerFunc, m ...echo.MiddlewareFunc) *echo.Route {
	g.check(p, m)
	return g.e.CONNECT(p, h, m...)
}

func (g guardedRouter) DELETE(p string, h echo.HandlerFunc, m ...echo.MiddlewareFunc) *echo.Route {
	g.check(p, m)
	return g.e.DELETE(p, h, m...)
}

func (g guardedRouter) GET(p string, h echo.HandlerFunc, m ...echo.MiddlewareFunc) *echo.Route {
	g.check(p, m)
	return g.e.GET(p, h, m...)
}

func (g guardedRouter) HEAD(p string, h echo.HandlerFunc, m ...echo.MiddlewareFunc) *echo.Route {
	g.check(p, m)
	return g.e.HEAD(p, h, m...)
}

func (g guardedRouter) OPTIONS(p string, h echo.HandlerFunc, m ...echo.MiddlewareFunc) *echo.Route {
	g.check(p, m)
	return g.e.OPTIONS(p, h, m...)
}

func (g guardedRouter) PATCH(p string, h echo.HandlerFunc, m ...echo.MiddlewareFunc) *echo.Route {
	g.check(p, m)
	return g.e.PATCH(p, h, m...)
}

func (g guardedRouter) POST(p string, h echo.HandlerFunc, m ...echo.MiddlewareFunc) *echo.Route {
	g.check(p, m)
	return g.e.POST(p, h, m...)
}

func (g guardedRouter) PUT(p string, h echo.HandlerFunc, m ...echo.MiddlewareFunc) *echo.Route {
	g.check(p, m)
	return g.e.PUT(p, h, m...)
}

func (g guardedRouter) TRACE(p string, h echo.HandlerFunc, m ...echo.MiddlewareFunc) *echo.Route {
	g.check(p, m)
	return g.e.TRACE(p, h, m...)
}

// Handler returns a bare echo instance serving only the v1 routes, for
// tests and benchmarks that do not need the rest of paasd.
func (a *API) Handler() *echo.Echo {
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	a.Register(e)
	return e
}

// operationMiddlewares picks each operation's middleware from the OpenAPI
// document: operations with `security: []` are public; /api/paas/*
// operations act in an organization, and only owners and members write
// there; /api/admin/* ones need an admin. Every answer but a public
// document's is no-store.
func (s *server) operationMiddlewares() map[string][]echo.MiddlewareFunc {
	spec, err := openapi.GetSwagger()
	if err != nil {
		panic(fmt.Sprintf("v1: embedded OpenAPI document: %v", err))
	}
	out := map[string][]echo.MiddlewareFunc{}
	for path, item := range spec.Paths.Map() {
		for method, op := range item.Operations() {
			mws := []echo.MiddlewareFunc{s.bodyLimit}
			public := op.Security != nil && len(*op.Security) == 0
			orgScoped := strings.HasPrefix(path, "/api/paas/")
			write := method != http.MethodGet && method != http.MethodHead
			if !public || write {
				mws = append(mws, noStore)
			}
			switch {
			case public:
			case op.OperationID == "listApps" && s.lists != nil:
				mws = append(mws, s.authenticate(scopeAppList))
			case strings.HasPrefix(path, "/api/paas/"):
				mws = append(mws, s.authenticate(scopeOrganization))
			case strings.HasPrefix(path, "/api/admin/"):
				mws = append(mws, s.authenticate(scopeAdmin))
			default:
				mws = append(mws, s.authenticate(scopeUser))
			}
			switch {
			case orgScoped && write && !public:
				mws = append(mws, requireWriter)
			case op.OperationID == "exportEnv":
				mws = append(mws, requireEnvReader)
			}
			// After authentication, so a request without valid
			// credentials never costs the caches anything; public writes
			// (login) change nothing they hold.
			if !public && write {
				mws = append(mws, s.invalidateOnWrite(orgScoped))
			}
			out[op.OperationID] = mws
		}
	}
	return out
}

// invalidateOnWrite makes cached answers stale when a write succeeds
// through this process, just before its response is sent: the write's own
// notification may arrive later, and a client that got the response must
// read what it wrote from this process, on any connection. (Through
// another replica it shows once the notification arrives there.) A write
// under /api/paas/ only touches its organization's apps; any other write
// (tokens, admin) may touch anything. Refused writes change nothing.
func (s *server) invalidateOnWrite(orgScoped bool) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			res := c.Response()
			res.Before(func() {
				switch {
				case res.Status >= http.StatusBadRequest:
				case orgScoped:
					s.fresh.invalidateOrg(org(c).ID)
				default:
					s.fresh.invalidate()
				}
			})
			return next(c)
		}
	}
}

// noStore marks the answer Cache-Control: no-store, whatever the handler
// set, just before it is sent: authenticated answers carry tokens, env
// values and other tenants' data, which no browser or proxy cache may keep,
// and forcing it here means no handler (streams included) can forget.
func noStore(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		res := c.Response()
		res.Before(func() { res.Header().Set("Cache-Control", "no-store") })
		return next(c)
	}
}

func mustSpecJSON() []byte {
	spec, err := openapi.GetSwagger()
	if err != nil {
		panic(fmt.Sprintf("v1: embedded OpenAPI document: %v", err))
	}
	b, err := json.Marshal(spec)
	if err != nil {
		panic(fmt.Sprintf("v1: marshal OpenAPI document: %v", err))
	}
	return b
}

// GetOpenAPI serves the contract.
func (s *server) GetOpenAPI(c echo.Context) error {
	c.Response().Header().Set("Cache-Control", "public, max-age=300")
	return c.Blob(http.StatusOK, echo.MIMEApplicationJSON, s.specJSON)
}

// bodyLimit caps every request body; reading past the cap fails with
// *http.MaxBytesError, which writeError answers as 413.
func (s *server) bodyLimit(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		if r.ContentLength > s.BodyLimit {
			return tooLarge(s.BodyLimit)
		}
		if r.Body != nil {
			r.Body = http.MaxBytesReader(c.Response(), r.Body, s.BodyLimit)
		}
		return next(c)
	}
}

func tooLarge(limit int64) *problem.Problem {
	return problem.New(http.StatusRequestEntityTooLarge, problem.TypePayloadTooLarge, "Payload too large",
		fmt.Sprintf("the request body is over the limit of %d bytes", limit))
}

// writeError answers err as a problem document: problems as they are,
// echo's errors (routing, parameter binding) by their status, anything else
// as a logged 500.
func (s *server) writeError(c echo.Context, err error) {
	if c.Response().Committed {
		return
	}
	var p *problem.Problem
	var he *echo.HTTPError
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &p):
	case errors.As(err, &mbe):
		p = tooLarge(mbe.Limit)
	case errors.As(err, &he):
		p = fromHTTPError(he)
		if p.Status >= 500 {
			s.log.Error().Err(err).Str("path", c.Request().URL.Path).Msg("request failed")
		}
	case errors.Is(err, context.Canceled):
		// The client went away; nobody reads the answer.
		p = problem.New(499, problem.TypeInternal, "Client closed request", "")
	default:
		s.log.Error().Err(err).Str("method", c.Request().Method).Str("path", c.Request().URL.Path).Msg("request failed")
		p = problem.Internal()
	}
	p.Instance = cmp.Or(p.Instance, c.Request().URL.Path)
	if c.Request().Method == http.MethodHead {
		c.Response().WriteHeader(p.Status)
		return
	}
	_ = problem.Write(c.Response(), p)
}

// badParameter matches the generated router's binding errors, which name
// the parameter; the rest of the message is strconv's wording.
var badParameter = regexp.MustCompile(`^Invalid format for parameter ([A-Za-z0-9_-]+): `)

// malformedParameter is the 400 of a parameter that did not bind (a limit
// of 99999999999999999999, a uuid that is not one), naming it as a field.
func malformedParameter(msg string) *problem.Problem {
	m := badParameter.FindStringSubmatch(msg)
	if m == nil {
		return problem.Malformed(msg)
	}
	return problem.Malformed("parameter "+m[1]+" is not valid", fe(m[1], "has the wrong type or is out of range"))
}

func fromHTTPError(he *echo.HTTPError) *problem.Problem {
	msg := fmt.Sprint(he.Message)
	switch he.Code {
	case http.StatusNotFound:
		return problem.NotFound("no such route")
	case http.StatusMethodNotAllowed:
		return problem.New(he.Code, problem.TypeMethodNotAllowed, "Method not allowed", "this route does not answer that method")
	case http.StatusBadRequest:
		return malformedParameter(msg)
	case http.StatusUnauthorized:
		return problem.Unauthorized(msg)
	case http.StatusForbidden:
		return problem.Forbidden(msg)
	case http.StatusRequestEntityTooLarge:
		return problem.New(he.Code, problem.TypePayloadTooLarge, "Payload too large", msg)
	case http.StatusUnsupportedMediaType:
		return problem.New(he.Code, problem.TypeUnsupportedMediaType, "Unsupported media type", msg)
	}
	if he.Code >= 500 {
		return problem.Internal()
	}
	return &problem.Problem{Type: "about:blank", Title: http.StatusText(he.Code), Status: he.Code, Detail: msg}
}
