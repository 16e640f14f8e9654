// Package domain holds the domain loop: it checks that whoever added a
// custom domain controls it, by a TXT record _paas-verify.<hostname> =
// paas-verify=<token>, when the domain is added, when a client asks, and
// again periodically, and writes what it found as the domain's status. A
// domain whose proof disappears is failed, and the route loop stops
// routing it.
package domain

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/skypanel/paas/controllers/runtime"
	"github.com/skypanel/paas/controllers/servicewrite"
	"github.com/skypanel/paas/store"
	"github.com/skypanel/paas/store/key"
	"github.com/skypanel/paas/store/spec"
)

// Name is the domain loop's name in the registry, events and metrics.
const Name = "domain"

// ValuePrefix starts the TXT value that proves ownership; the token follows.
const ValuePrefix = spec.VerificationValuePrefix

// DefaultRecheck is how often a domain's proof is checked again when the
// domain_recheck_minutes setting is unset.
const DefaultRecheck = time.Hour

// DefaultTimeout bounds one TXT lookup.
const DefaultTimeout = 5 * time.Second

// Record names the TXT record that proves hostname's ownership.
func Record(hostname string) string { return spec.VerificationRecord(hostname) }

// Value is the TXT value that proves ownership with token.
func Value(token string) string { return spec.VerificationValue(token) }

// Resolver looks up TXT records; *net.Resolver satisfies it.
type Resolver interface {
	LookupTXT(ctx context.Context, name string) ([]string, error)
}

// NewResolver returns a resolver that asks the DNS server at addr
// (host:port) over UDP, falling back to TCP for truncated answers; the
// system's resolver when addr is empty.
func NewResolver(addr string) *net.Resolver {
	if addr == "" {
		return net.DefaultResolver
	}
	return &net.Resolver{
		PreferGo: true,
		Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		},
	}
}

// Store is the part of the database the domain loop uses.
type Store interface {
	GetDomainForCheck(ctx context.Context, id uuid.UUID) (store.GetDomainForCheckRow, error)
	RecordDomainCheck(ctx context.Context, arg store.RecordDomainCheckParams) (store.Domain, error)
	GetSetting(ctx context.Context, key string) (store.Setting, error)
	servicewrite.Events
}

// Reconciler is the domain loop; configure it by fields.
type Reconciler struct {
	// Store reads domains and records their checks.
	Store Store
	// Resolver looks up the proofs.
	Resolver Resolver
	// Recheck overrides the domain_recheck_minutes setting when positive.
	Recheck time.Duration
	// Timeout bounds one lookup (DefaultTimeout if zero).
	Timeout time.Duration
	// Now reads the clock.
	Now func() time.Time
}

// Outcome is what one lookup of a proof says.
type Outcome struct {
	// Found says the expected value is among the records.
	Found bool
	// Definitive says the DNS answered (the record is surely missing or
	// wrong); false for a lookup that failed, which proves nothing.
	Definitive bool
	// Error says why the proof was not found; empty when it was.
	Error string
}

// Judge reads the answer to the lookup of hostname's proof (records, or
// the lookup's error) against the domain's token.
func Judge(hostname, token string, records []string, lookupErr error) Outcome {
	rec := Record(hostname)
	if lookupErr != nil {
		var dnsErr *net.DNSError
		if errors.As(lookupErr, &dnsErr) && dnsErr.IsNotFound {
			return Outcome{Definitive: true, Error: "no TXT record at " + rec}
		}
		return Outcome{Error: "looking up the TXT record at " + rec + " failed: " + lookupReason(lookupErr)}
	}
	if slices.Contains(records, Value(token)) {
		return Outcome{Found: true, Definitive: true}
	}
	for _, r := range records {
		if strings.HasPrefix(r, ValuePrefix) {
			return Outcome{Definitive: true, Error: "the TXT record at " + rec + " holds a different paas-verify token than this domain's"}
		}
	}
	return Outcome{Definitive: true, Error: "no paas-verify= value among the TXT records at " + rec}
}

// lookupReason is a lookup error without the resolver's address.
func lookupReason(err error) string {
	var dnsErr *net.DNSError
	switch {
	case errors.As(err, &dnsErr) && dnsErr.IsTimeout:
		return "the DNS server did not answer in time"
	case errors.As(err, &dnsErr):
		return dnsErr.Err
	}
	return err.Error()
}

// Due says whether a domain must be checked now: it never was, a client
// asked since the last check, or the last check is recheck old; otherwise
// how long until it is.
func Due(d store.Domain, now time.Time, recheck time.Duration) (bool, time.Duration) {
	if d.CheckedAt == nil || Requested(d) {
		return true, 0
	}
	next := d.CheckedAt.Add(recheck)
	if !now.Before(next) {
		return true, 0
	}
	return false, next.Sub(now)
}

// Requested says a client asked for a check after the last one.
func Requested(d store.Domain) bool {
	return d.VerifyRequestedAt != nil && (d.CheckedAt == nil || d.VerifyRequestedAt.After(*d.CheckedAt))
}

// Reconcile checks one domain's proof when it is due, records the result,
// and asks to be woken for the next check.
func (r *Reconciler) Reconcile(ctx context.Context, k key.Key) (runtime.Result, error) {
	id, err := uuid.Parse(k.Name)
	if err != nil {
		return runtime.Result{}, nil // malformed keys are dropped, not retried
	}
	row, err := r.Store.GetDomainForCheck(ctx, id)
	if store.IsNotFound(err) {
		return runtime.Result{}, nil
	}
	if err != nil {
		return runtime.Result{}, fmt.Errorf("read domain: %w", err)
	}
	if row.AppDeletedAt != nil {
		return runtime.Result{}, nil // goes with its app
	}
	d := row.Domain
	recheck, err := r.recheck(ctx)
	if err != nil {
		return runtime.Result{}, err
	}
	now := r.Now()
	if due, wait := Due(d, now, recheck); !due {
		return runtime.Result{RequeueAfter: wait}, nil
	}
	timeout := r.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	lookupCtx, cancel := context.WithTimeout(ctx, timeout)
	records, lookupErr := r.Resolver.LookupTXT(lookupCtx, Record(d.Hostname))
	cancel()
	if ctx.Err() != nil {
		return runtime.Result{}, ctx.Err()
	}
	out := Judge(d.Hostname, d.VerificationToken, records, lookupErr)
	checked := r.Now()
	after, err := r.Store.RecordDomainCheck(ctx, store.RecordDomainCheckParams{
		ID: id, Found: out.Found, Definitive: out.Definitive, FailPending: Requested(d),
		LastError: out.Error, CheckedAt: checked,
	})
	if store.IsNotFound(err) {
		return runtime.Result{}, nil // removed while we looked
	}
	if err != nil {
		return runtime.Result{}, fmt.Errorf("record check: %w", err)
	}
	r.recordEvent(ctx, d, after)
	if !out.Definitive {
		return runtime.Result{RequeueAfter: min(recheck, 30*time.Second)}, nil
	}
	return runtime.Result{RequeueAfter: recheck}, nil
}

// recordEvent tells the app's owners when a domain's proof came or went.
func (r *Reconciler) recordEvent(ctx context.Context, before, after store.Domain) {
	proven := func(s string) bool { return s == store.DomainVerified || s == store.DomainRouted }
	switch {
	case proven(after.Status) && !proven(before.Status):
		servicewrite.Record(ctx, r.Store, r.Now(), Name, after.AppID, servicewrite.Normal, "DomainVerified",
			after.Hostname+": proof of ownership found; it will be routed")
	case after.Status == store.DomainFailed && before.Status != store.DomainFailed:
		servicewrite.Record(ctx, r.Store, r.Now(), Name, after.AppID, servicewrite.Warning, "DomainUnverified",
			after.Hostname+": "+after.LastError)
	}
}

// recheck is the period between checks of one domain.
func (r *Reconciler) recheck(ctx context.Context) (time.Duration, error) {
	if r.Recheck > 0 {
		return r.Recheck, nil
	}
	n, err := store.IntSetting(ctx, r.Store, "domain_recheck_minutes", int64(DefaultRecheck/time.Minute))
	if err != nil {
		return 0, fmt.Errorf("read domain_recheck_minutes: %w", err)
	}
	return time.Duration(max(n, 1)) * time.Minute, nil
}
