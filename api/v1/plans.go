package v1

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/skypanel/paas/api/openapi"
	"github.com/skypanel/paas/api/problem"
	"github.com/skypanel/paas/store"
)

// listPlans answers a page of plans, cheapest first, then by name.
func (s *server) listPlans(c echo.Context, activeOnly bool, limitParam *int, cursor *string) error {
	limit, err := pageLimit(limitParam)
	if err != nil {
		return err
	}
	afterPrice, afterName, err := decodePlanCursor(cursor)
	if err != nil {
		return err
	}
	rows, err := s.Store.APIListPlans(c.Request().Context(), store.APIListPlansParams{
		ActiveOnly: activeOnly, AfterPrice: afterPrice, AfterName: afterName, Lim: int32(limit + 1)})
	if err != nil {
		return err
	}
	items, next, err := page(rows, limit,
		func(p store.Plan) (openapi.Plan, error) { return planOut(p), nil },
		func(p store.Plan) string { return strconv.FormatInt(p.PriceHourlyMicros, 10) + "|" + p.Name })
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, openapi.PlanList{Items: items, NextCursor: next})
}

// decodePlanCursor decodes a cursor of (price, name); without one it
// answers a key before every plan (prices are never negative).
func decodePlanCursor(p *string) (int64, string, error) {
	cur, err := decodeCursor(p)
	if err != nil || cur == "" {
		return -1, "", err
	}
	price, name, ok := strings.Cut(cur, "|")
	n, perr := strconv.ParseInt(price, 10, 64)
	if !ok || perr != nil {
		return 0, "", problem.Malformed("", fe("cursor", "is not a cursor this API gave"))
	}
	return n, name, nil
}

// ListPlans answers the catalogue: active plans, cheapest first.
func (s *server) ListPlans(c echo.Context, params openapi.ListPlansParams) error {
	return s.listPlans(c, true, params.Limit, params.Cursor)
}

// AdminListPlans answers every plan, cheapest first.
func (s *server) AdminListPlans(c echo.Context, params openapi.AdminListPlansParams) error {
	return s.listPlans(c, false, params.Limit, params.Cursor)
}

func (s *server) findPlan(ctx context.Context, q *store.Queries, ident string) (store.Plan, error) {
	id, name := identOf(ident)
	p, err := q.APIGetPlan(ctx, store.APIGetPlanParams{ID: id, Name: name})
	if store.IsNotFound(err) {
		return p, problem.NotFound(fmt.Sprintf("plan %q not found", ident))
	}
	return p, err
}

// AdminGetPlan answers one plan.
func (s *server) AdminGetPlan(c echo.Context, ident openapi.PlanPath) error {
	p, err := s.findPlan(c.Request().Context(), s.Store.Queries, ident)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, planOut(p))
}

type planFields struct {
	DisplayName       *string `json:"display_name"`
	CpuMillis         *int64  `json:"cpu_millis"`
	MemoryMb          *int64  `json:"memory_mb"`
	MaxReplicas       *int64  `json:"max_replicas"`
	PriceHourlyMicros *int64  `json:"price_hourly_micros"`
	Active            *bool   `json:"active"`
}

type createPlanRequest struct {
	Name *string `json:"name"`
	planFields
}

// apply checks the fields that are set and writes them into p.
func (f planFields) apply(p *store.Plan) []problem.FieldError {
	var errs []problem.FieldError
	if f.DisplayName != nil {
		if n := strings.TrimSpace(*f.DisplayName); n == "" || len(n) > 128 || !validText(n) {
			errs = append(errs, fe("display_name", "must be 1 to 128 characters of text"))
		} else {
			p.DisplayName = n
		}
	}
	intField := func(name string, v *int64, lo, hi int64, dst *int32) {
		if v == nil {
			return
		}
		if *v < lo || *v > hi {
			errs = append(errs, fe(name, fmt.Sprintf("must be between %d and %d", lo, hi)))
			return
		}
		*dst = int32(*v)
	}
	intField("cpu_millis", f.CpuMillis, 1, 1_000_000, &p.CpuMillis)
	intField("memory_mb", f.MemoryMb, 1, 10_000_000, &p.MemoryMb)
	intField("max_replicas", f.MaxReplicas, 1, maxReplicas, &p.MaxReplicas)
	if f.PriceHourlyMicros != nil {
		if *f.PriceHourlyMicros < 0 || *f.PriceHourlyMicros > 1_000_000_000_000 {
			errs = append(errs, fe("price_hourly_micros", "must be between 0 and 10^12"))
		} else {
			p.PriceHourlyMicros = *f.PriceHourlyMicros
		}
	}
	if f.Active != nil {
		p.Active = *f.Active
	}
	return errs
}

// AdminCreatePlan creates a plan.
func (s *server) AdminCreatePlan(c echo.Context) error {
	var req createPlanRequest
	if err := readJSON(c, &req); err != nil {
		return err
	}
	var errs []problem.FieldError
	for name, missing := range map[string]bool{"name": req.Name == nil, "display_name": req.DisplayName == nil,
		"cpu_millis": req.CpuMillis == nil, "memory_mb": req.MemoryMb == nil, "max_replicas": req.MaxReplicas == nil,
		"price_hourly_micros": req.PriceHourlyMicros == nil} {
		if missing {
			errs = append(errs, fe(name, "is required"))
		}
	}
	p := store.Plan{Active: true}
	if req.Name != nil {
		p.Name = *req.Name
		if !planName.MatchString(p.Name) {
			errs = append(errs, fe("name", "must be a DNS label of at most 32 characters"))
		}
	}
	errs = append(errs, req.planFields.apply(&p)...)
	if len(errs) > 0 {
		sortErrors(errs)
		return problem.Invalid(errs...)
	}
	ctx := c.Request().Context()
	var plan store.Plan
	err := s.Store.InTx(ctx, func(q *store.Queries) error {
		var err error
		plan, err = q.APICreatePlan(ctx, store.APICreatePlanParams{Name: p.Name, DisplayName: p.DisplayName,
			CpuMillis: p.CpuMillis, MemoryMb: p.MemoryMb, MaxReplicas: p.MaxReplicas,
			PriceHourlyMicros: p.PriceHourlyMicros, Active: p.Active})
		if _, ok := store.IsUniqueViolation(err); ok {
			return problem.Conflict(fmt.Sprintf("a plan named %q already exists", p.Name))
		}
		if err != nil {
			return err
		}
		return audit(ctx, q, caller(c), "plan.create", "plan", plan.ID.String(), uuid.Nil, map[string]any{"name": plan.Name})
	})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, planOut(plan))
}

// AdminPatchPlan changes a plan's fields; its name stays.
func (s *server) AdminPatchPlan(c echo.Context, ident openapi.PlanPath) error {
	var f planFields
	if err := readJSON(c, &f); err != nil {
		return err
	}
	ctx := c.Request().Context()
	var plan store.Plan
	err := s.Store.InTx(ctx, func(q *store.Queries) error {
		p, err := s.findPlan(ctx, q, ident)
		if err != nil {
			return err
		}
		if errs := f.apply(&p); len(errs) > 0 {
			return problem.Invalid(errs...)
		}
		plan, err = q.APIUpdatePlan(ctx, store.APIUpdatePlanParams{ID: p.ID, DisplayName: p.DisplayName,
			CpuMillis: p.CpuMillis, MemoryMb: p.MemoryMb, MaxReplicas: p.MaxReplicas,
			PriceHourlyMicros: p.PriceHourlyMicros, Active: p.Active})
		if err != nil {
			return err
		}
		return audit(ctx, q, caller(c), "plan.update", "plan", plan.ID.String(), uuid.Nil, map[string]any{"name": plan.Name})
	})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, planOut(plan))
}

// AdminDeletePlan deletes a plan no app uses.
func (s *server) AdminDeletePlan(c echo.Context, ident openapi.PlanPath) error {
	ctx := c.Request().Context()
	err := s.Store.InTx(ctx, func(q *store.Queries) error {
		p, err := s.findPlan(ctx, q, ident)
		if err != nil {
			return err
		}
		n, err := q.APIDeletePlanIfUnused(ctx, p.ID)
		if err != nil {
			return err
		}
		if n == 0 {
			used, err := q.APICountPlanApps(ctx, p.ID)
			if err != nil {
				return err
			}
			return problem.Conflict(fmt.Sprintf("plan %q is used by %d apps: move them to another plan, or deactivate it (PATCH active=false)", p.Name, used))
		}
		return audit(ctx, q, caller(c), "plan.delete", "plan", p.ID.String(), uuid.Nil, map[string]any{"name": p.Name})
	})
	if err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}
