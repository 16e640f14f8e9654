package v1

import (
	"context"
	"fmt"
	"strings"

	"github.com/google/uuid"

	"github.com/skypanel/paas/api/problem"
	"github.com/skypanel/paas/store"
)

// resolvePlan finds a plan by name (the default plan for ""); an inactive
// plan is refused unless the app already runs on it.
func resolvePlan(ctx context.Context, q *store.Queries, name string, current uuid.UUID) (store.Plan, []problem.FieldError, error) {
	var plan store.Plan
	var err error
	if name == "" {
		plan, err = q.APIDefaultPlan(ctx)
		if store.IsNotFound(err) {
			return plan, []problem.FieldError{fe("spec.plan", "no plan is offered: ask an administrator to create one")}, nil
		}
	} else {
		plan, err = q.APIGetPlan(ctx, store.APIGetPlanParams{ID: uuid.Nil, Name: name})
		if store.IsNotFound(err) {
			return plan, []problem.FieldError{fe("spec.plan", fmt.Sprintf("no plan is named %q (GET /api/paas/plans lists them)", name))}, nil
		}
	}
	if err != nil {
		return plan, nil, err
	}
	if !plan.Active && plan.ID != current {
		return plan, []problem.FieldError{fe("spec.plan", fmt.Sprintf("plan %q is no longer offered", plan.Name))}, nil
	}
	return plan, nil, nil
}

// checkReplicas enforces the plan's max_replicas.
func checkReplicas(field string, replicas int32, plan store.Plan) []problem.FieldError {
	if replicas > plan.MaxReplicas {
		return []problem.FieldError{fe(field, fmt.Sprintf("plan %q allows at most %d replicas", plan.Name, plan.MaxReplicas))}
	}
	return nil
}

// invalid builds the 422 for field errors, naming the plan limit when the
// replica count is what broke it.
func invalid(errs []problem.FieldError, plan store.Plan) *problem.Problem {
	p := problem.Invalid(errs...)
	for _, e := range errs {
		if strings.HasSuffix(e.Field, "replicas") && strings.Contains(e.Message, "allows at most") {
			v := int64(plan.MaxReplicas)
			p.Limit, p.LimitValue = "plan.max_replicas", &v
		}
	}
	return p
}
