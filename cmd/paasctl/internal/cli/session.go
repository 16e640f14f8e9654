package cli

import (
	"bytes"
	"cmp"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"time"

	"github.com/skypanel/paas/api/client"
	"github.com/skypanel/paas/cmd/paasctl/internal/config"
	"github.com/skypanel/paas/cmd/paasctl/internal/output"
)

// requestTimeout bounds one ordinary API call; streams have none.
const requestTimeout = 60 * time.Second

// apiClient is an authenticated connection to one paasd.
type apiClient struct {
	server string
	// c makes ordinary calls (with a timeout); stream makes long-lived ones.
	c      *client.Client
	stream *client.Client
	// tokenSource says where the token came from, for error hints.
	tokenSource string
}

// errNoServer is returned when no server is configured.
var errNoServer = errors.New("no server configured: run `paasctl login --server URL` or set PAAS_SERVER")

// normalizeServer checks a server URL; without a scheme, http:// is
// assumed for local addresses and https:// for the rest.
func normalizeServer(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", errNoServer
	}
	if !strings.Contains(s, "://") {
		host := s
		if h, _, err := net.SplitHostPort(s); err == nil {
			host = h
		}
		host = strings.SplitN(host, "/", 2)[0]
		if host == "localhost" || net.ParseIP(host) != nil && net.ParseIP(host).IsLoopback() {
			s = "http://" + s
		} else {
			s = "https://" + s
		}
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("server %q is not an http(s) URL such as http://127.0.0.1:8080", s)
	}
	u.RawQuery, u.Fragment = "", ""
	return strings.TrimSuffix(u.String(), "/"), nil
}

// serverURL resolves the server: --server, then PAAS_SERVER, then the
// configuration file.
func (a *app) serverURL() (string, error) {
	s := cmp.Or(a.flags.server, a.getenv("PAAS_SERVER"), a.cfg.Server)
	if s == "" {
		return "", errNoServer
	}
	return normalizeServer(s)
}

// organization resolves the organization: --org, then PAAS_ORG, then the
// configuration file.
func (a *app) organization() string {
	if a.flags.org != "" {
		return a.flags.org
	}
	if o := a.getenv("PAAS_ORG"); o != "" {
		return o
	}
	return a.cfg.Organization
}

// client returns an authenticated API client, or a clear error when there
// is no server or no token.
func (a *app) client() (*apiClient, error) {
	server, err := a.serverURL()
	if err != nil {
		return nil, err
	}
	token, source := a.getenv("PAAS_TOKEN"), "PAAS_TOKEN"
	if token == "" {
		cfgServer, _ := normalizeServer(a.cfg.Server)
		if a.cfg.Token == "" || cfgServer != server {
			return nil, fmt.Errorf("not logged in to %s: run `paasctl login --server %s` (or set PAAS_TOKEN)", server, server)
		}
		token, source = a.cfg.Token, "config"
		if exp := a.cfg.TokenExpiresAt; exp != nil && !exp.After(a.now()) {
			return nil, fmt.Errorf("your login to %s expired %s ago: run `paasctl login`", server, output.Age(*exp, a.now()))
		}
	}
	return a.newClient(server, token, a.organization(), source)
}

// newClient builds a client for server with token (empty: anonymous).
func (a *app) newClient(server, token, org, source string) (*apiClient, error) {
	editor := func(_ context.Context, req *http.Request) error {
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		if org != "" && req.Header.Get("X-Paas-Organization") == "" && strings.HasPrefix(req.URL.Path, pathPrefix(server)+"/api/paas/") {
			req.Header.Set("X-Paas-Organization", org)
		}
		req.Header.Set("User-Agent", "paasctl/"+a.version)
		return nil
	}
	c, err := client.NewClient(server, client.WithHTTPClient(&http.Client{Timeout: requestTimeout}), client.WithRequestEditorFn(editor))
	if err != nil {
		return nil, err
	}
	st, err := client.NewClient(server, client.WithHTTPClient(&http.Client{}), client.WithRequestEditorFn(editor))
	if err != nil {
		return nil, err
	}
	return &apiClient{server: server, c: c, stream: st, tokenSource: source}, nil
}

func pathPrefix(server string) string {
	u, err := url.Parse(server)
	if err != nil {
		return ""
	}
	return strings.TrimSuffix(u.Path, "/")
}

// problemError is an API problem (RFC 7807).
type problemError struct {
	Status        int          `json:"status"`
	Type          string       `json:"type"`
	Title         string       `json:"title"`
	Detail        string       `json:"detail"`
	Errors        []fieldError `json:"errors"`
	Organizations []string     `json:"organizations"`
	Limit         string       `json:"limit"`
	// hint is a next step added by paasctl.
	hint string
}

type fieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

func (p *problemError) Error() string {
	var b strings.Builder
	b.WriteString(p.Title)
	if p.Detail != "" {
		b.WriteString(": " + p.Detail)
	}
	if p.hint != "" {
		b.WriteString(" (" + p.hint + ")")
	}
	return b.String()
}

// details are the field errors, one per line, printed under the title
// (those the detail already says are left out).
func (p *problemError) details() []string {
	out := make([]string, 0, len(p.Errors))
	for _, e := range p.Errors {
		line := e.Field + ": " + e.Message
		if !strings.Contains(p.Detail, line) {
			out = append(out, line)
		}
	}
	return out
}

// isStatus reports whether err is an API problem with that status.
func isStatus(err error, status int) bool {
	var p *problemError
	return errors.As(err, &p) && p.Status == status
}

// answerError turns a non-2xx answer into an error.
func (c *apiClient) answerError(resp *http.Response, body []byte) error {
	ct, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	p := &problemError{}
	if (ct == "application/problem+json" || ct == "application/json") && json.Unmarshal(body, p) == nil && p.Title != "" {
		if p.Status == 0 {
			p.Status = resp.StatusCode
		}
	} else {
		text := output.Truncate(output.OneLine(string(body)), 200)
		p = &problemError{Status: resp.StatusCode, Title: resp.Status, Detail: text}
		if p.Detail == "" {
			p.Detail = "unexpected answer from " + c.server
		}
	}
	switch {
	case p.Status == http.StatusUnauthorized && c.tokenSource == "PAAS_TOKEN":
		p.hint = "check PAAS_TOKEN"
	case p.Status == http.StatusUnauthorized && c.tokenSource == "config":
		p.hint = "run `paasctl login`"
	case p.Status == http.StatusBadRequest && len(p.Organizations) > 0:
		p.hint = "pick one with `paasctl orgs use SLUG` or --org: " + strings.Join(p.Organizations, ", ")
	}
	return p
}

// transportError explains a request that got no answer.
func (c *apiClient) transportError(err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		var ue *url.Error
		if errors.As(err, &ue) && ue.Timeout() && !errors.Is(err, context.Canceled) {
			return fmt.Errorf("%s did not answer in time", c.server)
		}
		return err
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		inner := ue.Err
		var op *net.OpError
		switch {
		case errors.Is(inner, syscall.ECONNREFUSED):
			return fmt.Errorf("cannot reach %s: connection refused (is paasd running?)", c.server)
		case errors.As(inner, &op) && op.Op == "dial":
			return fmt.Errorf("cannot reach %s: %v", c.server, op.Err)
		case ue.Timeout():
			return fmt.Errorf("%s did not answer in time", c.server)
		}
		return fmt.Errorf("cannot reach %s: %v", c.server, inner)
	}
	return err
}

// expect reads a JSON answer into T (a 2xx), or the API's problem.
//
//	app, err := expect[client.App](c)(c.c.GetApp(ctx, name, nil))
func expect[T any](c *apiClient) func(*http.Response, error) (*T, error) {
	return func(resp *http.Response, err error) (*T, error) {
		body, err := c.read(resp, err)
		if err != nil {
			return nil, err
		}
		var v T
		if err := json.Unmarshal(body, &v); err != nil {
			return nil, fmt.Errorf("unexpected answer from %s %s: %v", resp.Request.Method, resp.Request.URL.Path, err)
		}
		return &v, nil
	}
}

// expectText reads a text answer.
func expectText(c *apiClient) func(*http.Response, error) ([]byte, error) {
	return c.read
}

// read returns a 2xx answer's body, or the problem.
func (c *apiClient) read(resp *http.Response, err error) ([]byte, error) {
	if err != nil {
		return nil, c.transportError(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, c.transportError(err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, c.answerError(resp, body)
	}
	return body, nil
}

// openStream checks a streaming answer's status; the caller closes the body.
func (c *apiClient) openStream(resp *http.Response, err error) (*http.Response, error) {
	if err != nil {
		return nil, c.transportError(err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		defer resp.Body.Close()
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		return nil, c.answerError(resp, body)
	}
	return resp, nil
}

// jsonBody encodes v for a *WithBody call.
func jsonBody(v any) io.Reader {
	b, _ := json.Marshal(v)
	return bytes.NewReader(b)
}

// header sets one request header.
func header(k, v string) client.RequestEditorFn {
	return func(_ context.Context, req *http.Request) error {
		req.Header.Set(k, v)
		return nil
	}
}

// jwtExpiry reads the exp claim of a JWT without verifying it (the server
// does): it only lets paasctl say "expired" before asking. API tokens are
// not JWTs and have no local expiry.
func jwtExpiry(token string) *time.Time {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return nil
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return nil
	}
	var claims struct {
		Exp *int64 `json:"exp"`
	}
	if json.Unmarshal(b, &claims) != nil || claims.Exp == nil {
		return nil
	}
	t := time.Unix(*claims.Exp, 0).UTC()
	return &t
}

// saveConfig writes the configuration file.
func (a *app) saveConfig() error { return config.Save(a.cfgPath, a.cfg) }
