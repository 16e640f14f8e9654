package v1

import (
	"testing"

	"github.com/google/uuid"
)

// TestFreshness walks the events that make a cached answer stale, checking
// an answer about each of two organizations and a credential read before
// the event.
func TestFreshness(t *testing.T) {
	t.Parallel()
	acme, globex := uuid.New(), uuid.New()
	type want struct{ acme, globex, auth bool }
	cases := []struct {
		name  string
		event func(f *freshness)
		want  want
	}{
		{"nothing happens", func(*freshness) {}, want{true, true, true}},
		{"acme's apps change", func(f *freshness) { f.handle("org/" + acme.String()) }, want{false, true, true}},
		{"credentials change", func(f *freshness) { f.handle("auth") }, want{true, true, false}},
		{"everything changes", func(f *freshness) { f.handle("all") }, want{false, false, false}},
		{"an unknown payload", func(f *freshness) { f.handle("node/7") }, want{false, false, false}},
		{"a malformed organization", func(f *freshness) { f.handle("org/nope") }, want{false, false, false}},
		{"a write to acme's apps through this process", func(f *freshness) { f.invalidateOrg(acme) }, want{false, true, true}},
		{"another write through this process", func(f *freshness) { f.invalidate() }, want{false, false, false}},
		{"the listener goes down", func(f *freshness) { f.setLive(false) }, want{false, false, false}},
		{"the listener reconnects", func(f *freshness) { f.setLive(false); f.setLive(true) }, want{false, false, false}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFreshness()
			f.setLive(true)
			f.handle("org/" + globex.String()) // an older change: already read
			st := f.now()
			if !st.valid {
				t.Fatal("a stamp taken while live is not valid")
			}
			tc.event(f)
			got := want{f.orgCurrent(st, acme), f.orgCurrent(st, globex), f.authCurrent(st)}
			if got != tc.want {
				t.Fatalf("current (acme, globex, auth) = %+v, want %+v", got, tc.want)
			}
			// Only an announced change of acme itself (not one that
			// invalidates everything) marks acme's answer as changed.
			if changed, want := f.orgChanged(st, acme), f.current(st) && !tc.want.acme; changed != want {
				t.Fatalf("orgChanged(acme) = %v, want %v", changed, want)
			}
			// Whatever happened, an answer read afterwards is current
			// again while the listener is up.
			if f.live {
				st := f.now()
				if !f.orgCurrent(st, acme) || !f.orgCurrent(st, globex) || !f.authCurrent(st) {
					t.Fatal("an answer read after the event is not current")
				}
			}
		})
	}
}

// TestFreshnessWhileDown checks nothing read while the listener is down can
// be cached: such answers are never current, even after it reconnects.
func TestFreshnessWhileDown(t *testing.T) {
	t.Parallel()
	org := uuid.New()
	f := newFreshness()
	st := f.now()
	if st.valid || f.orgCurrent(st, org) || f.authCurrent(st) {
		t.Fatal("an answer read before the listener ever connected is current")
	}
	f.setLive(true)
	if f.orgCurrent(st, org) || f.authCurrent(st) {
		t.Fatal("an answer read before the listener connected became current")
	}
}

// TestFreshFor checks when a shared render serves a request: if it read
// after the request arrived, or if nothing of the organization was
// announced since it read.
func TestFreshFor(t *testing.T) {
	t.Parallel()
	acme, globex := uuid.New(), uuid.New()
	f := newFreshness()
	f.setLive(true)
	before := f.now() // the render reads
	f.handle("org/" + globex.String())
	arrived := f.now() // then the request arrives
	if !f.freshFor(before, arrived, acme) {
		t.Fatal("a render from before the request, with no change of acme since, was refused")
	}
	f.handle("org/" + acme.String())
	if f.freshFor(before, arrived, acme) {
		t.Fatal("a render from before a change of acme served a request that arrived after it")
	}
	after := f.now() // a render that read after the request arrived
	if !f.freshFor(after, arrived, acme) {
		t.Fatal("a render that read after the request arrived was refused")
	}
	f.invalidate()
	if f.freshFor(after, arrived, acme) {
		t.Fatal("a render from before a write through this process was accepted")
	}
	f.setLive(false)
	if f.freshFor(f.now(), f.now(), acme) {
		t.Fatal("a render was accepted while the listener is down")
	}
}
