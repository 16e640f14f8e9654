package main

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/skypanel/paas/store"
	"github.com/skypanel/paas/store/storetest"
)

// TestBillingSweepCommand runs `paasd billing sweep --until` twice over a
// metered hour: the first run charges it, the second charges nothing.
func TestBillingSweepCommand(t *testing.T) {
	ctx := context.Background()
	url := storetest.NewURL(t)
	s, err := store.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	o, err := s.CreateOrganization(ctx, store.CreateOrganizationParams{Name: "Acme", Slug: "acme"})
	if err != nil {
		t.Fatal(err)
	}
	app := uuid.New()
	hour := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	for _, at := range []time.Time{hour.Add(15 * time.Minute), hour.Add(16 * time.Minute), hour.Add(45 * time.Minute)} {
		// Observed now and then: 2 replicas at 3,600 micro-units an hour.
		for m := at; m.Before(at.Add(time.Minute)); m = m.Add(30 * time.Second) {
			if err := s.MeterApp(ctx, store.MeterAppParams{AppID: app, AppName: "web", OrganizationID: o.ID, PriceHourlyMicros: 3600,
				Replicas: 2, Now: m, MaxGapSeconds: 3600}); err != nil {
				t.Fatal(err)
			}
		}
	}
	run := func() string {
		cmd := exec.Command(paasdBinary, "billing", "sweep", "--until", "2026-03-01T12:00:00Z")
		cmd.Env = append(cmd.Environ(), "DATABASE_URL="+url)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("paasd billing sweep: %v\n%s", err, out)
		}
		return string(out)
	}
	// 10:15:00 to 10:45:30 (no gap over the max), 2 replicas: 3,660
	// replica-seconds at 1 micro-unit each.
	if out := run(); !strings.Contains(out, "charged 1 hours: 1 charges, 0.003660 in total") {
		t.Fatalf("first sweep: %s", out)
	}
	if out := run(); !strings.Contains(out, "charged 0 hours: 0 charges") {
		t.Fatalf("second sweep: %s", out)
	}
	var n int
	if err := s.Pool.QueryRow(ctx, `SELECT count(*) FROM paas_ledger WHERE reference = $1`, "charge:"+app.String()+":2026-03-01T10Z").Scan(&n); err != nil || n != 1 {
		t.Fatalf("charges of the hour: %d, %v", n, err)
	}
}
