package v1

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/google/uuid"

	"github.com/skypanel/paas/api/problem"
	"github.com/skypanel/paas/store"
)

// takeDeploySlot records a write that asks for a new release, or refuses
// it when the organization has asked for max_deployments_per_hour in the
// last hour. Requests are counted, not releases: the reconciler cuts those
// later, and a burst of writes must not get through before it does. The
// organization's slots are taken one transaction at a time.
func (s *server) takeDeploySlot(ctx context.Context, q *store.Queries, orgID uuid.UUID) error {
	limit, err := store.IntSetting(ctx, q, "max_deployments_per_hour", 60)
	if err != nil || limit == 0 {
		return err
	}
	if err := q.APILockDeployBudget(ctx, orgID); err != nil {
		return err
	}
	now := s.Now()
	since := now.Add(-time.Hour)
	if err := q.APIPruneDeployRequests(ctx, store.APIPruneDeployRequestsParams{OrganizationID: orgID, Before: since}); err != nil {
		return err
	}
	r, err := q.APIDeployRequestsSince(ctx, store.APIDeployRequestsSinceParams{OrganizationID: orgID, Since: since})
	if err != nil {
		return err
	}
	if r.N >= limit {
		p := problem.LimitExceeded(http.StatusTooManyRequests, "max_deployments_per_hour", limit, r.N,
			fmt.Sprintf("the organization has asked for %d deployments in the last hour, the limit is %d; nothing was changed", r.N, limit))
		p.RetryAfter = max(r.Oldest.Add(time.Hour).Sub(now), time.Second)
		return p
	}
	return q.APIRecordDeployRequest(ctx, store.APIRecordDeployRequestParams{OrganizationID: orgID, RequestedAt: now})
}
