package v1

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/skypanel/paas/api/problem"
	"github.com/skypanel/paas/store"
)

// loginFreeFailures is how many attempts of a streak (see backoff) go
// through at once: a few typos cost nothing.
const loginFreeFailures = 5

// backoff is the wait between failed logins of one email from one
// address: after loginFreeFailures attempts, each further attempt waits
// base, doubled per attempt, at most max, after the previous one. A streak
// ends with a right password, or after window without attempts; the
// window is three times max, so that waiting out the cap does not end it.
type backoff struct {
	base, max time.Duration
}

func (b backoff) window() time.Duration { return 3 * b.max }

// after is how long after the last attempt of a streak of n the next one
// may come.
func (b backoff) after(n int) time.Duration {
	if n < loginFreeFailures {
		return 0
	}
	shift := n - loginFreeFailures
	if shift >= 30 || b.base<<shift > b.max {
		return b.max
	}
	return b.base << shift
}

// loginLimiter bounds login attempts in two ways, both recorded in
// Postgres so that every replica of paasd enforces one shared bound:
//
//   - per client address, perMinute attempts over a sliding minute
//     (paas_login_attempts), whatever the emails: one address cannot
//     guess widely;
//   - per email and client address together, a backoff that doubles with
//     each failure of a streak (paas_login_failures): one address cannot
//     guess one password quickly.
//
// Nothing is keyed by the email alone, which would let anyone lock its
// owner out by failing on purpose; an owner logging in from another
// address is never slowed by someone else's failures.
type loginLimiter struct {
	store     *store.Store
	perMinute int64
	backoff   backoff
	now       func() time.Time
	// keySecret keys the HMAC that names an address or email in the
	// tables, so neither can be recovered from them.
	keySecret []byte
}

func newLoginLimiter(s *store.Store, perMinute int, b backoff, now func() time.Time, keySecret []byte) *loginLimiter {
	return &loginLimiter{store: s, perMinute: int64(perMinute), backoff: b, now: now, keySecret: keySecret}
}

// key names one bucket: kind and its parts, joined by newlines (which
// neither an address nor a valid email contains).
func (l *loginLimiter) key(kind string, parts ...string) []byte {
	m := hmac.New(sha256.New, l.keySecret)
	m.Write([]byte(kind + ":" + strings.Join(parts, "\n")))
	return m.Sum(nil)
}

func (l *loginLimiter) keys(addr, email string) (addrKey, pairKey []byte) {
	return l.key("addr", addr), l.key("pair", email, addr)
}

// refusal says why an attempt is refused and how long to wait.
type refusal struct {
	why  string
	wait time.Duration
}

// allow records one attempt of email from addr, or refuses it (a 429
// problem) without recording it. The attempt counts in the streak before
// its password is checked, so concurrent guesses cannot overtake the
// count; succeeded ends the streak.
func (l *loginLimiter) allow(ctx context.Context, addr, email string) error {
	addrKey, pairKey := l.keys(addr, email)
	now := l.now()
	var refused *refusal
	err := l.store.InTx(ctx, func(q *store.Queries) error {
		if err := q.APILockLoginKeys(ctx, [][]byte{addrKey, pairKey}); err != nil {
			return err
		}
		var err error
		if refused, err = l.addressRefusal(ctx, q, addrKey, now); err != nil || refused != nil {
			return err
		}
		if refused, err = l.streakRefusal(ctx, q, pairKey, now); err != nil || refused != nil {
			return err
		}
		streakStart := now.Add(-l.backoff.window())
		if err := q.APISweepLoginFailures(ctx, streakStart); err != nil {
			return err
		}
		if err := q.APIRecordLoginAttempt(ctx, store.APIRecordLoginAttemptParams{Keys: [][]byte{addrKey}, AttemptedAt: now}); err != nil {
			return err
		}
		return q.APIRecordLoginFailure(ctx, store.APIRecordLoginFailureParams{Key: pairKey, At: now, StreakStart: streakStart})
	})
	if err != nil {
		return err
	}
	if refused != nil {
		return tooManyLogins(*refused)
	}
	return nil
}

// addressRefusal applies the per-address limit over the last minute.
func (l *loginLimiter) addressRefusal(ctx context.Context, q *store.Queries, key []byte, now time.Time) (*refusal, error) {
	since := now.Add(-time.Minute)
	keys := [][]byte{key}
	if err := q.APIPruneLoginAttempts(ctx, store.APIPruneLoginAttemptsParams{Keys: keys, Before: since}); err != nil {
		return nil, err
	}
	counts, err := q.APILoginAttemptsSince(ctx, store.APILoginAttemptsSinceParams{Keys: keys, Since: since})
	if err != nil || len(counts) == 0 || counts[0].N < l.perMinute {
		return nil, err
	}
	wait := max(counts[0].Oldest.Add(time.Minute).Sub(now), time.Second)
	return &refusal{why: "too many login attempts from your address", wait: wait}, nil
}

// streakRefusal applies the backoff of the email from this address.
func (l *loginLimiter) streakRefusal(ctx context.Context, q *store.Queries, key []byte, now time.Time) (*refusal, error) {
	f, err := q.APILoginFailures(ctx, key)
	if store.IsNotFound(err) {
		return nil, nil
	}
	if err != nil || !f.LastAt.After(now.Add(-l.backoff.window())) {
		return nil, err
	}
	if wait := l.backoff.after(int(f.Failures)) - now.Sub(f.LastAt); wait > 0 {
		return &refusal{why: "too many failed logins to this account from your address", wait: wait}, nil
	}
	return nil, nil
}

// succeeded ends the streak of email from addr: the password was right.
func (l *loginLimiter) succeeded(ctx context.Context, addr, email string) error {
	_, pairKey := l.keys(addr, email)
	return l.store.APIClearLoginFailures(ctx, pairKey)
}

// tooManyLogins is the 429 of a refused login attempt.
func tooManyLogins(r refusal) *problem.Problem {
	p := problem.New(http.StatusTooManyRequests, problem.TypeRateLimited, "Too many login attempts",
		fmt.Sprintf("%s; try again in %d seconds", r.why, int(r.wait.Seconds()+0.999)))
	p.RetryAfter = r.wait
	return p
}
