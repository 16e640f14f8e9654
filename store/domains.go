package store

// Domain statuses (paas_domains.status); the schema's check constraint
// lists the same four.
const (
	// DomainPending: the domain's proof of ownership was never found.
	DomainPending = "pending"
	// DomainVerified: the proof was found at the last check.
	DomainVerified = "verified"
	// DomainRouted: verified, and the app's service routes it.
	DomainRouted = "routed"
	// DomainFailed: the proof was not found when asked for or re-checked; not routed.
	DomainFailed = "failed"
)
