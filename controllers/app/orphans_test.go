package app

import "testing"

func TestOrphanPolicy(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name              string
		p                 OrphanPolicy
		orphans, services int
		want              bool
	}{
		{"none", OrphanPolicy{}, 0, 10, true},
		{"a crash's leftover", OrphanPolicy{}, 1, 1, true},
		{"up to three always", OrphanPolicy{}, 3, 3, true},
		{"a quarter of many", OrphanPolicy{}, 25, 100, true},
		{"empty database", OrphanPolicy{}, 40, 40, false},
		{"more than a quarter", OrphanPolicy{}, 26, 100, false},
		{"custom share", OrphanPolicy{MaxShare: 0.5}, 50, 100, true},
		{"forced", OrphanPolicy{Force: true}, 40, 40, true},
	} {
		if got := tc.p.Allows(tc.orphans, tc.services); got != tc.want {
			t.Errorf("%s: Allows(%d, %d) = %t, want %t", tc.name, tc.orphans, tc.services, got, tc.want)
		}
	}
}

func TestOrphanGateClosedUntilJudged(t *testing.T) {
	t.Parallel()
	var g OrphanGate
	if ok, why := g.Open(); ok || why == "" {
		t.Fatalf("unjudged gate open = %t (%q), want closed with a reason", ok, why)
	}
	if !g.Judge(OrphanPolicy{}, 1, 10) {
		t.Fatal("1 orphan of 10 refused")
	}
	if ok, _ := g.Open(); !ok {
		t.Fatal("gate closed after an allowing verdict")
	}
	g.Judge(OrphanPolicy{}, 10, 10)
	if ok, why := g.Open(); ok || why == "" {
		t.Fatalf("gate after 10 orphans of 10 = %t (%q), want closed with a reason", ok, why)
	}
}
