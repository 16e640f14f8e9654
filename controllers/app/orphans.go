package app

import (
	"fmt"
	"sync"
)

// OrphanPolicy bounds what the app loop removes as orphans (services of
// this installation without an app row) in one resync pass. Orphans come
// from a crash between creating a service and recording it, or from rows
// deleted by hand: a few at a time. Many at once means the database is
// empty, restored or the wrong one, and removing them would wipe
// production; the loop then removes none until an operator says so.
type OrphanPolicy struct {
	// MaxShare is the largest share of the installation's services that
	// may be orphans (0.25 if zero).
	MaxShare float64
	// Always is the number of orphans removed whatever their share (3 if zero).
	Always int
	// Force removes every orphan (serve --allow-mass-orphan-removal).
	Force bool
}

// Allows reports whether orphans out of services may be removed.
func (p OrphanPolicy) Allows(orphans, services int) bool {
	maxShare, always := p.MaxShare, p.Always
	if maxShare <= 0 {
		maxShare = 0.25
	}
	if always <= 0 {
		always = 3
	}
	return p.Force || orphans <= always || float64(orphans) <= maxShare*float64(services)
}

// OrphanGate carries the verdict of the last resync to the reconciles that
// would remove orphans; it is closed until the first verdict, so nothing is
// removed before the installation has been looked at as a whole.
type OrphanGate struct {
	mu      sync.Mutex
	judged  bool
	allowed bool
	reason  string
}

// Judge records the verdict of policy on orphans out of services and
// reports whether removals are allowed.
func (g *OrphanGate) Judge(p OrphanPolicy, orphans, services int) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.judged, g.allowed = true, p.Allows(orphans, services)
	g.reason = ""
	if !g.allowed {
		g.reason = fmt.Sprintf("%d of this installation's %d services have no app: more than the %d or %.0f%% removed as orphans in one pass; "+
			"if the database is right, restart paasd with --allow-mass-orphan-removal", orphans, services, max(p.Always, 3), 100*p.maxShare())
	}
	return g.allowed
}

// Open reports whether orphans may be removed, and why not.
func (g *OrphanGate) Open() (bool, string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.judged {
		return false, "no resync has judged this installation's orphans yet"
	}
	return g.allowed, g.reason
}

func (p OrphanPolicy) maxShare() float64 {
	if p.MaxShare <= 0 {
		return 0.25
	}
	return p.MaxShare
}
