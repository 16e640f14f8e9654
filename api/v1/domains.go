package v1

import (
	"context"
	"fmt"
	"net/http"
	"slices"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/skypanel/paas/api/openapi"
	"github.com/skypanel/paas/api/problem"
	"github.com/skypanel/paas/store"
	"github.com/skypanel/paas/store/spec"
)

func domainNotFound(app, ident string) *problem.Problem {
	return problem.NotFound(fmt.Sprintf("app %q has no domain %q", app, ident))
}

// renderDomain builds the API's domain object; the proof's value is shown
// only when open (the caller may write the app).
func renderDomain(d store.Domain, open bool) openapi.Domain {
	v := openapi.DomainVerification{Type: openapi.TXT, Name: spec.VerificationRecord(d.Hostname)}
	if open {
		token := spec.VerificationValue(d.VerificationToken)
		v.Value = &token
	}
	return openapi.Domain{
		Id: d.ID, Hostname: d.Hostname, Status: d.Status, LastError: d.LastError,
		CheckedAt: d.CheckedAt, VerifiedAt: d.VerifiedAt, VerifyRequestedAt: d.VerifyRequestedAt,
		CreatedAt: d.CreatedAt, Verification: v,
	}
}

// findDomain reads one domain of an app by id or hostname (normalised as
// spec.Hostname does, so "WWW.Example.com." finds www.example.com).
func findDomain(ctx context.Context, q *store.Queries, app store.App, ident string) (store.Domain, error) {
	id, host := identOf(ident)
	if id == uuid.Nil && host != "" {
		norm, err := spec.Hostname(host)
		if err != nil {
			return store.Domain{}, domainNotFound(app.Name, ident)
		}
		host = norm
	}
	d, err := q.APIGetDomain(ctx, store.APIGetDomainParams{AppID: app.ID, ID: id, Hostname: host})
	if store.IsNotFound(err) {
		return d, domainNotFound(app.Name, ident)
	}
	return d, err
}

// ListDomains answers a page of the app's domains, by hostname.
func (s *server) ListDomains(c echo.Context, ident openapi.AppPath, params openapi.ListDomainsParams) error {
	limit, err := pageLimit(params.Limit)
	if err != nil {
		return err
	}
	after, err := decodeCursor(params.Cursor)
	if err != nil {
		return err
	}
	app, err := s.findApp(c, ident)
	if err != nil {
		return err
	}
	rows, err := s.Store.APIListDomains(c.Request().Context(), store.APIListDomainsParams{AppID: app.ID, AfterHostname: after, Lim: int32(limit + 1)})
	if err != nil {
		return err
	}
	open := mayWrite(org(c).Role)
	items, next, err := page(rows, limit, func(d store.Domain) (openapi.Domain, error) { return renderDomain(d, open), nil },
		func(d store.Domain) string { return d.Hostname })
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, openapi.DomainList{Items: items, NextCursor: next})
}

// GetDomain answers one domain of the app.
func (s *server) GetDomain(c echo.Context, ident openapi.AppPath, domain openapi.DomainPath, _ openapi.GetDomainParams) error {
	app, err := s.findApp(c, ident)
	if err != nil {
		return err
	}
	d, err := findDomain(c.Request().Context(), s.Store.Queries, app, domain)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, renderDomain(d, mayWrite(org(c).Role)))
}

type createDomainRequest struct {
	Hostname *string `json:"hostname"`
}

// CreateDomain adds a custom hostname to the app, pending until its TXT
// record is checked; it is a write of spec.domains like any other.
func (s *server) CreateDomain(c echo.Context, ident openapi.AppPath, _ openapi.CreateDomainParams) error {
	var req createDomainRequest
	if err := readJSON(c, &req); err != nil {
		return err
	}
	if req.Hostname == nil {
		return problem.Invalid(fe("hostname", "is required"))
	}
	host, err := spec.Hostname(*req.Hostname)
	if err != nil {
		return problem.Invalid(fe("hostname", err.Error()))
	}
	appID, _, err := s.mutateApp(c, ident, mutation{action: "domain.add", domainsField: "hostname", details: map[string]any{"hostname": host},
		apply: func(_ context.Context, _ *store.Queries, app store.App, d desired) (desired, []problem.FieldError, error) {
			if slices.Contains(d.Domains, host) {
				return d, nil, problem.Conflict(fmt.Sprintf("app %q already has the domain %q", app.Name, host))
			}
			d.Domains = append(d.Domains, host)
			slices.Sort(d.Domains)
			return d, nil, nil
		}})
	if err != nil {
		return err
	}
	dom, err := s.Store.APIGetDomain(c.Request().Context(), store.APIGetDomainParams{AppID: appID, Hostname: host})
	if err != nil {
		return fmt.Errorf("read added domain: %w", err)
	}
	c.Response().Header().Set("Location", fmt.Sprintf("/api/paas/apps/%s/domains/%s", appID, dom.ID))
	return c.JSON(http.StatusCreated, renderDomain(dom, true))
}

// DeleteDomain removes a custom hostname from the app.
func (s *server) DeleteDomain(c echo.Context, ident openapi.AppPath, domain openapi.DomainPath, _ openapi.DeleteDomainParams) error {
	_, _, err := s.mutateApp(c, ident, mutation{action: "domain.remove", details: map[string]any{"domain": domain},
		apply: func(ctx context.Context, q *store.Queries, app store.App, d desired) (desired, []problem.FieldError, error) {
			dom, err := findDomain(ctx, q, app, domain)
			if err != nil {
				return d, nil, err
			}
			d.Domains = slices.DeleteFunc(d.Domains, func(h string) bool { return h == dom.Hostname })
			return d, nil, nil
		}})
	if err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// VerifyDomain asks the domain loop to check the domain's TXT record now;
// the loop writes the outcome.
func (s *server) VerifyDomain(c echo.Context, ident openapi.AppPath, domain openapi.DomainPath, _ openapi.VerifyDomainParams) error {
	ctx := c.Request().Context()
	o, p := org(c), caller(c)
	var out store.Domain
	err := s.Store.InTx(ctx, func(q *store.Queries) error {
		app, err := lockApp(ctx, q, o.ID, ident)
		if err != nil {
			return err
		}
		if app.DeletedAt != nil {
			return problem.Conflict("the app is being deleted")
		}
		dom, err := findDomain(ctx, q, app, domain)
		if err != nil {
			return err
		}
		now := s.Now()
		if out, err = q.RequestDomainVerify(ctx, store.RequestDomainVerifyParams{AppID: app.ID, ID: dom.ID, VerifyRequestedAt: &now}); err != nil {
			return fmt.Errorf("request domain check: %w", err)
		}
		return audit(ctx, q, p, "domain.verify", "app", app.ID.String(), o.ID, map[string]any{"name": app.Name, "hostname": dom.Hostname})
	})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusAccepted, renderDomain(out, true))
}
