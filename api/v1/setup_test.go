package v1_test

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"
	"github.com/google/uuid"
	"github.com/rs/zerolog"

	"github.com/skypanel/paas/api"
	"github.com/skypanel/paas/api/openapi"
	"github.com/skypanel/paas/api/problem"
	v1 "github.com/skypanel/paas/api/v1"
	"github.com/skypanel/paas/store"
	"github.com/skypanel/paas/store/secret"
	"github.com/skypanel/paas/store/storetest"
)

const testPassword = "correct horse battery"

// passwordHash is bcrypt(testPassword), computed once: bcrypt is slow on purpose.
var passwordHash = sync.OnceValue(func() string {
	h, err := store.HashPassword(testPassword)
	if err != nil {
		panic(err)
	}
	return h
})

// clock is the API's clock: real time plus an offset tests can move.
type clock struct {
	mu     sync.Mutex
	offset time.Duration
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.offset += d
}

type user struct {
	store.User
	token string // a login JWT
}

// fixture is one test's world: its own database, an API server over HTTP,
// two organizations with an owner each, a user of both, a user of none,
// and a platform admin.
type fixture struct {
	t      testing.TB
	s      *store.Store
	api    *v1.API
	srv    *httptest.Server
	box    *secret.Box
	clock  *clock
	admin  user // platform admin, owner of admin-org
	alice  user // owner of acme
	bob    user // owner of globex
	carol  user // member of acme and globex
	dave   user // no organization
	acme   store.Organization
	globex store.Organization
	hobby  store.Plan // max 1 replica
	pro    store.Plan // max 10 replicas
}

func testBox(t testing.TB) *secret.Box {
	b, err := secret.NewBox(bytes.Repeat([]byte{42}, 32))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// setup builds a fixture whose API follows change notifications, as paasd
// serve runs it; opts adjust the API's dependencies.
func setup(t testing.TB, opts ...func(*v1.Deps)) *fixture {
	t.Helper()
	return newFixture(t, true, opts...)
}

// setupUnfollowed builds a fixture whose API does not run API.Run, so every
// cached answer is confirmed against the database.
func setupUnfollowed(t testing.TB, opts ...func(*v1.Deps)) *fixture {
	t.Helper()
	return newFixture(t, false, opts...)
}

func newFixture(t testing.TB, follow bool, opts ...func(*v1.Deps)) *fixture {
	t.Helper()
	ctx := context.Background()
	s := storetest.New(t)
	f := &fixture{t: t, s: s, box: testBox(t), clock: &clock{}}
	deps := v1.Deps{
		Store: s, Box: f.box, JWTSecret: []byte("test-jwt-secret-of-at-least-32-characters"),
		Now: f.clock.Now, Logger: zerolog.Nop(), Heartbeat: 200 * time.Millisecond, EventsPoll: 50 * time.Millisecond,
	}
	for _, o := range opts {
		o(&deps)
	}
	f.api = v1.New(deps)
	if follow {
		// As paasd serve does: follow change notifications, and wait until
		// cached answers can be used, so tests see the production paths.
		rctx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { defer close(done); _ = f.api.Run(rctx) }()
		t.Cleanup(func() { cancel(); <-done })
		waitFor(t, "the API to follow change notifications", f.api.Following)
	}
	h := (&api.Server{Register: f.api.Register}).Handler(zerolog.Nop())
	f.srv = httptest.NewServer(h)
	t.Cleanup(f.srv.Close)

	mkOrg := func(slug string) store.Organization {
		o, err := s.CreateOrganization(ctx, store.CreateOrganizationParams{Name: strings.ToUpper(slug[:1]) + slug[1:], Slug: slug})
		if err != nil {
			t.Fatal(err)
		}
		return o
	}
	mkUser := func(email string, admin bool, orgs ...store.Organization) user {
		u, err := s.CreateUser(ctx, store.CreateUserParams{Email: email, Name: strings.Split(email, "@")[0], PasswordHash: passwordHash(), IsAdmin: admin})
		if err != nil {
			t.Fatal(err)
		}
		for i, o := range orgs {
			role := "owner"
			if i > 0 || email == "carol@example.com" {
				role = "member"
			}
			if err := s.AddMembership(ctx, store.AddMembershipParams{OrganizationID: o.ID, UserID: u.ID, Role: role}); err != nil {
				t.Fatal(err)
			}
		}
		return user{User: u, token: f.api.LoginTokenFor(u.ID)}
	}
	f.acme, f.globex = mkOrg("acme"), mkOrg("globex")
	f.admin = mkUser("admin@example.com", true, mkOrg("admin-org"))
	f.alice = mkUser("alice@example.com", false, f.acme)
	f.bob = mkUser("bob@example.com", false, f.globex)
	f.carol = mkUser("carol@example.com", false, f.acme, f.globex)
	f.dave = mkUser("dave@example.com", false)
	var err error
	if f.hobby, err = s.GetPlanByName(ctx, "hobby"); err != nil {
		t.Fatal(err)
	}
	if f.pro, err = s.GetPlanByName(ctx, "pro"); err != nil {
		t.Fatal(err)
	}
	return f
}

// res is an HTTP answer, read whole.
type res struct {
	t      testing.TB
	Code   int
	Header http.Header
	Body   []byte
	req    string
}

func (r *res) String() string { return fmt.Sprintf("%s -> %d %s", r.req, r.Code, r.Body) }

// want fails the test unless the answer has this status.
func (r *res) want(code int) *res {
	r.t.Helper()
	if r.Code != code {
		r.t.Fatalf("%s: status %d, want %d", r, r.Code, code)
	}
	return r
}

// decode reads the body as JSON into v.
func (r *res) decode(v any) {
	r.t.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		r.t.Fatalf("%s: decode: %v", r, err)
	}
}

func (r *res) app() openapi.App {
	r.t.Helper()
	var a openapi.App
	r.decode(&a)
	return a
}

// problem checks the answer is a problem document of this status and type.
func (r *res) problem(code int, typ string) problem.Problem {
	r.t.Helper()
	r.want(code)
	if ct := r.Header.Get("Content-Type"); ct != problem.ContentType {
		r.t.Fatalf("%s: Content-Type %q, want %s", r, ct, problem.ContentType)
	}
	var p problem.Problem
	r.decode(&p)
	if p.Status != code || p.Title == "" {
		r.t.Fatalf("%s: problem %+v", r, p)
	}
	if typ != "" && p.Type != problem.TypeBase+typ {
		r.t.Fatalf("%s: problem type %q, want %q", r, p.Type, problem.TypeBase+typ)
	}
	return p
}

// fieldErr checks a problem names a field.
func fieldErr(t testing.TB, p problem.Problem, field string) problem.FieldError {
	t.Helper()
	for _, e := range p.Errors {
		if e.Field == field {
			return e
		}
	}
	t.Fatalf("problem %+v names no field %q", p, field)
	return problem.FieldError{}
}

// raw is a request body sent as is.
type raw struct {
	contentType string
	body        string
}

// do sends a request as the holder of token ("" for none). body is nil, a
// raw, or a value sent as JSON; hdrs are header name/value pairs.
func (f *fixture) do(token, method, path string, body any, hdrs ...string) *res {
	f.t.Helper()
	var rd io.Reader
	ct := ""
	switch b := body.(type) {
	case nil:
	case raw:
		rd, ct = strings.NewReader(b.body), b.contentType
	default:
		js, err := json.Marshal(b)
		if err != nil {
			f.t.Fatal(err)
		}
		rd, ct = bytes.NewReader(js), "application/json"
	}
	req, err := http.NewRequest(method, f.srv.URL+path, rd)
	if err != nil {
		f.t.Fatal(err)
	}
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(hdrs); i += 2 {
		req.Header.Set(hdrs[i], hdrs[i+1])
	}
	resp, err := f.srv.Client().Do(req)
	if err != nil {
		f.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		f.t.Fatal(err)
	}
	r := &res{t: f.t, Code: resp.StatusCode, Header: resp.Header, Body: b, req: method + " " + path}
	checkContract(f.t, req, r)
	return r
}

var contract = sync.OnceValues(func() (routers.Router, error) {
	doc, err := openapi.GetSwagger()
	if err != nil {
		return nil, err
	}
	doc.Servers = nil
	return legacy.NewRouter(doc)
})

// checkContract validates every answer against the OpenAPI document:
// its status must be declared for the route and its body must match the
// declared schema.
func checkContract(t testing.TB, req *http.Request, r *res) {
	t.Helper()
	if strings.HasPrefix(r.Header.Get("Content-Type"), "text/event-stream") {
		return
	}
	router, err := contract()
	if err != nil {
		t.Fatalf("load contract: %v", err)
	}
	body := r.Body
	if r.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(bytes.NewReader(body))
		if err != nil {
			t.Fatalf("%s: gzip: %v", r, err)
		}
		if body, err = io.ReadAll(zr); err != nil {
			t.Fatalf("%s: gzip: %v", r, err)
		}
	}
	route, params, err := router.FindRoute(req)
	if err != nil {
		return // a route the API does not have: its 404/405 is checked by the test
	}
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route},
		Status:                 r.Code, Header: r.Header, Body: io.NopCloser(bytes.NewReader(body)),
		Options: &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true},
	}
	if err := openapi3filter.ValidateResponse(context.Background(), in); err != nil {
		t.Errorf("%s: answer breaks the OpenAPI contract: %v", r, err)
	}
}

var _ = openapi3.NewLoader

// createApp creates an app in the caller's only (or named) organization.
func (f *fixture) createApp(token, name string, spec map[string]any, hdrs ...string) openapi.App {
	f.t.Helper()
	return f.do(token, "POST", "/api/paas/apps", map[string]any{"name": name, "spec": spec}, hdrs...).want(201).app()
}

// sseEvent is one Server-Sent Event.
type sseEvent struct {
	ID, Event, Data string
}

// sseStream reads events from an open stream.
type sseStream struct {
	t      testing.TB
	resp   *http.Response
	events chan sseEvent
	cancel context.CancelFunc
}

// stream opens an SSE request; the stream closes with the test.
func (f *fixture) stream(token, path string, hdrs ...string) *sseStream {
	f.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", f.srv.URL+path, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Accept", "text/event-stream")
	for i := 0; i+1 < len(hdrs); i += 2 {
		req.Header.Set(hdrs[i], hdrs[i+1])
	}
	resp, err := f.srv.Client().Do(req)
	if err != nil {
		cancel()
		f.t.Fatal(err)
	}
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		cancel()
		f.t.Fatalf("GET %s: %d %s %s", path, resp.StatusCode, resp.Header.Get("Content-Type"), b)
	}
	st := &sseStream{t: f.t, resp: resp, events: make(chan sseEvent, 1024), cancel: cancel}
	go func() {
		defer close(st.events)
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		var ev sseEvent
		var data []string
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if ev.Event != "" || len(data) > 0 {
					ev.Data = strings.Join(data, "\n")
					st.events <- ev
				}
				ev, data = sseEvent{}, nil
			case strings.HasPrefix(line, ":"):
				st.events <- sseEvent{Event: "comment", Data: strings.TrimSpace(line[1:])}
			case strings.HasPrefix(line, "id: "):
				ev.ID = line[4:]
			case strings.HasPrefix(line, "event: "):
				ev.Event = line[7:]
			case strings.HasPrefix(line, "data: "):
				data = append(data, line[6:])
			}
		}
	}()
	f.t.Cleanup(st.close)
	return st
}

func (st *sseStream) close() {
	st.cancel()
	st.resp.Body.Close()
}

// next returns the next event that is not a comment, failing after timeout.
func (st *sseStream) next(timeout time.Duration) sseEvent {
	st.t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case ev, ok := <-st.events:
			if !ok {
				st.t.Fatal("stream closed")
			}
			if ev.Event == "comment" {
				continue
			}
			return ev
		case <-deadline:
			st.t.Fatalf("no event within %s", timeout)
		}
	}
}

// until returns the first event matching ok, failing after timeout.
func (st *sseStream) until(timeout time.Duration, ok func(sseEvent) bool) sseEvent {
	st.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		left := time.Until(deadline)
		if left <= 0 {
			st.t.Fatalf("no matching event within %s", timeout)
		}
		ev := st.next(left)
		if ok(ev) {
			return ev
		}
	}
}

// quiet fails if a non-comment event arrives within d.
func (st *sseStream) quiet(d time.Duration) {
	st.t.Helper()
	deadline := time.After(d)
	for {
		select {
		case ev, ok := <-st.events:
			if !ok {
				return
			}
			if ev.Event != "comment" {
				st.t.Fatalf("unexpected event %+v", ev)
			}
		case <-deadline:
			return
		}
	}
}

// setSetting writes a platform setting directly.
func (f *fixture) setSetting(key, value string) {
	f.t.Helper()
	if err := f.s.PutSetting(context.Background(), store.PutSettingParams{Key: key, Value: &value}); err != nil {
		f.t.Fatal(err)
	}
}

// state is a fingerprint of everything an app write may touch, to prove a
// refused request changed nothing.
func (f *fixture) state() string {
	f.t.Helper()
	var out string
	err := f.s.Pool.QueryRow(context.Background(), `
		SELECT coalesce((SELECT string_agg(id::text || ':' || version || ':' || generation || ':' || name, ',' ORDER BY id) FROM paas_apps), '')
		    || '|' || (SELECT count(*) FROM paas_env_vars)
		    || '|' || coalesce((SELECT string_agg(app_id::text || key || encode(value_encrypted, 'hex'), ',' ORDER BY app_id, key) FROM paas_env_vars), '')
		    || '|' || (SELECT count(*) FROM paas_audit_log)
		    || '|' || (SELECT count(*) FROM paas_api_tokens)
		    || '|' || (SELECT count(*) FROM paas_plans)
		    || '|' || (SELECT count(*) FROM paas_memberships)
		    || '|' || coalesce((SELECT string_agg(app_id::text || hostname || status || coalesce(verify_requested_at::text, ''), ',' ORDER BY hostname) FROM paas_domains), '')
		    || '|' || coalesce((SELECT string_agg(key || '=' || coalesce(value, '') || encode(coalesce(value_encrypted, ''), 'hex'), ',' ORDER BY key) FROM paas_settings), '')
		    || '|' || coalesce((SELECT string_agg(app_id::text || ':' || number || ':' || ref || ':' || status || ':' || cancel_requested, ',' ORDER BY app_id, number) FROM paas_builds), '')
		    || '|' || coalesce((SELECT string_agg(app_id::text || ':' || git_url || ':' || git_ref || ':' || builder, ',' ORDER BY app_id) FROM paas_app_sources), '')
		    || '|' || coalesce((SELECT string_agg(organization_id::text || host || username || encode(token_encrypted, 'hex'), ',' ORDER BY organization_id, host) FROM paas_git_credentials), '')`).Scan(&out)
	if err != nil {
		f.t.Fatal(err)
	}
	return out
}

// insertRelease records a release as the app reconciler would.
func (f *fixture) insertRelease(appID uuid.UUID, rs store.ReleaseSpec, status string) store.Deployment {
	f.t.Helper()
	ctx := context.Background()
	app, err := f.s.GetApp(ctx, appID)
	if err != nil {
		f.t.Fatal(err)
	}
	spec, _ := json.Marshal(rs)
	now := time.Now()
	d, err := f.s.CreateDeployment(ctx, store.CreateDeploymentParams{AppID: appID, Generation: app.Generation, Spec: spec,
		Image: rs.Image, ImageResolved: "sha256:" + strings.Repeat("ab", 32), StartedAt: &now, DeadlineAt: &now})
	if err != nil {
		f.t.Fatal(err)
	}
	if status != "deploying" {
		if d, err = f.s.FinishDeployment(ctx, store.FinishDeploymentParams{ID: d.ID, Status: status, Message: "done", FinishedAt: &now, LogLine: "rolled out\n"}); err != nil {
			f.t.Fatal(err)
		}
	}
	return d
}

// sealEnv seals app's env values as a release snapshot stores them.
func (f *fixture) sealEnv(app uuid.UUID, env map[string]string) map[string][]byte {
	out := map[string][]byte{}
	for k, v := range env {
		b, err := f.box.Seal([]byte(v), secret.EnvAD(app, k))
		if err != nil {
			f.t.Fatal(err)
		}
		out[k] = b
	}
	return out
}

func nullUUID(id uuid.UUID) uuid.NullUUID { return uuid.NullUUID{UUID: id, Valid: true} }

// on returns the fixture reporting to t, for use in subtests.
func (f *fixture) on(t testing.TB) *fixture {
	g := *f
	g.t = t
	return &g
}

// bumpGeneration makes a spec change the API does not show (a restart), so
// the reconciler's next release has a generation of its own.
func (f *fixture) bumpGeneration(appID uuid.UUID) {
	f.t.Helper()
	if _, err := f.s.BumpAppRestart(context.Background(), appID); err != nil {
		f.t.Fatal(err)
	}
}

func validUTF8(s string) bool { return utf8.ValidString(s) }

// waitFor polls cond until it holds, failing the test after 10s.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
