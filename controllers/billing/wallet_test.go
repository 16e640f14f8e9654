package billing

import "testing"

func TestDecide(t *testing.T) {
	for _, c := range []struct {
		name                              string
		balance, threshold, burn, desired int64
		suspended                         bool
		want                              Decision
	}{
		{"healthy", 1_000_000, 0, 1000, 1000, false, Decision{State: "ok"}},
		{"under a day of runway", 20_000, 0, 1000, 1000, false, Decision{State: "low"}},
		{"empty and asking to run", 0, 0, 1000, 1000, false, Decision{FundsSuspended: true, State: "suspended"}},
		{"under the threshold", 400, 500, 0, 1000, false, Decision{FundsSuspended: true, State: "suspended"}},
		{"empty but nothing priced asked", 0, 0, 0, 0, false, Decision{State: "ok"}},
		{"stays suspended while empty", -5, 0, 0, 0, true, Decision{FundsSuspended: true, State: "suspended"}},
		{"a credit lifts it", 1, 0, 0, 1000, true, Decision{State: "ok"}},
		{"lifted but low", 1000, 0, 1000, 1000, true, Decision{State: "low"}},
	} {
		if got := Decide(c.balance, c.threshold, c.burn, c.desired, c.suspended); got != c.want {
			t.Errorf("%s: Decide = %+v, want %+v", c.name, got, c.want)
		}
	}
}
