package status_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/skypanel/paas/controllers/servicespec"
	"github.com/skypanel/paas/controllers/status"
	"github.com/skypanel/paas/store"
	"github.com/skypanel/paas/store/storetest"
)

// setup returns a store and an app to write status to.
func setup(t *testing.T) (*store.Store, uuid.UUID) {
	t.Helper()
	s := storetest.New(t)
	ctx := context.Background()
	org, err := s.CreateOrganization(ctx, store.CreateOrganizationParams{Name: "Acme", Slug: "acme"})
	if err != nil {
		t.Fatal(err)
	}
	plan, err := s.GetPlanByName(ctx, "hobby")
	if err != nil {
		t.Fatal(err)
	}
	a, err := s.CreateApp(ctx, store.CreateAppParams{OrganizationID: org.ID, Name: "web", ServiceName: "acme-web-000000",
		Image: "paas-testapp:v1", Replicas: 1, Port: 8080, Command: []string{}, PlanID: plan.ID})
	if err != nil {
		t.Fatal(err)
	}
	return s, a.ID
}

func read(t *testing.T, s *store.Store, id uuid.UUID) (store.App, []servicespec.Condition) {
	t.Helper()
	a, err := s.GetApp(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	var conds []servicespec.Condition
	if err := json.Unmarshal(a.Conditions, &conds); err != nil {
		t.Fatal(err)
	}
	return a, conds
}

func cond(typ, st, msg string) servicespec.Condition {
	return servicespec.Condition{Type: typ, Status: st, Reason: "Test", Message: msg}
}

// TestConcurrentLoopsKeepEachOthersConditions has two loops write their own
// condition types 100 times each at once: neither write may lose the other.
func TestConcurrentLoopsKeepEachOthersConditions(t *testing.T) {
	t.Parallel()
	s, id := setup(t)
	ctx := context.Background()
	now := time.Now()
	var wg sync.WaitGroup
	for _, typ := range []string{servicespec.ConditionReady, "Routed"} {
		wg.Go(func() {
			for i := range 100 {
				c := cond(typ, servicespec.StatusTrue, fmt.Sprintf("%s write %d", typ, i))
				if err := status.SetConditions(ctx, s, id, []servicespec.Condition{c}, now); err != nil {
					t.Errorf("%s write %d: %v", typ, i, err)
					return
				}
				// After its own write, the loop's condition is there and the
				// other loop's, once written, is never gone.
				_, conds := read(t, s, id)
				if servicespec.FindCondition(conds, typ) == nil {
					t.Errorf("%s write %d: own condition missing: %+v", typ, i, conds)
					return
				}
			}
		})
	}
	wg.Wait()
	a, conds := read(t, s, id)
	if len(conds) != 2 {
		t.Fatalf("conditions = %+v, want Ready and Routed", conds)
	}
	for _, typ := range []string{servicespec.ConditionReady, "Routed"} {
		if c := servicespec.FindCondition(conds, typ); c == nil || c.Message != typ+" write 99" {
			t.Errorf("%s = %+v, want its last write", typ, c)
		}
	}
	// Phase and message are derived from the merged list.
	if a.Phase != servicespec.PhaseRunning || a.StatusMessage != "Ready write 99" {
		t.Errorf("phase %q message %q, want Running / Ready's message", a.Phase, a.StatusMessage)
	}
	// Known types come first, in display order.
	if conds[0].Type != servicespec.ConditionReady {
		t.Errorf("order = %s, %s; want Ready first", conds[0].Type, conds[1].Type)
	}
}

// TestTransitionTimeMovesOnlyOnFlips checks the merge's transition times.
func TestTransitionTimeMovesOnlyOnFlips(t *testing.T) {
	t.Parallel()
	s, id := setup(t)
	ctx := context.Background()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	set := func(st, msg string, at time.Time) servicespec.Condition {
		t.Helper()
		if err := status.SetConditions(ctx, s, id, []servicespec.Condition{cond("Routed", st, msg)}, at); err != nil {
			t.Fatal(err)
		}
		_, conds := read(t, s, id)
		return *servicespec.FindCondition(conds, "Routed")
	}
	if c := set(servicespec.StatusFalse, "a", t0); !c.LastTransitionTime.Equal(t0) {
		t.Fatalf("new type: transition %v, want %v", c.LastTransitionTime, t0)
	}
	if c := set(servicespec.StatusFalse, "b", t0.Add(time.Hour)); !c.LastTransitionTime.Equal(t0) || c.Message != "b" {
		t.Fatalf("same status: %+v, want transition kept at %v and message b", c, t0)
	}
	if c := set(servicespec.StatusTrue, "c", t0.Add(2*time.Hour)); !c.LastTransitionTime.Equal(t0.Add(2 * time.Hour)) {
		t.Fatalf("flip: transition %v, want %v", c.LastTransitionTime, t0.Add(2*time.Hour))
	}
}

// TestSetConditionsOnMissingApp is not an error: a deleted app has nothing to report.
func TestSetConditionsOnMissingApp(t *testing.T) {
	t.Parallel()
	s, _ := setup(t)
	if err := status.SetConditions(context.Background(), s, uuid.New(), []servicespec.Condition{cond("Routed", "True", "x")}, time.Now()); err != nil {
		t.Fatalf("SetConditions on a missing app: %v", err)
	}
}
