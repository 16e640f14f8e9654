package runtime

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/rs/zerolog"
)

// Defaults of the Elector's timing fields.
const (
	DefaultRetryInterval = 5 * time.Second
	DefaultCheckInterval = 2 * time.Second
	DefaultCheckTimeout  = time.Second
)

// errLeadReturned is the cause recorded when lead returns on its own.
var errLeadReturned = errors.New("lead returned")

// Elector elects one leader among the replicas sharing a Postgres database,
// by holding a session advisory lock on a dedicated connection.
//
// The lock lives as long as the session, so a crashed or disconnected leader
// releases it without help. Because the leader learns of a lost session only
// by checking, it checks every CheckInterval and cancels its leadership
// context as soon as a check fails or takes longer than CheckTimeout. To keep
// the old and new leaders from overlapping, a new leader waits
// CheckInterval+CheckTimeout after taking the lock before it leads: by then
// the previous holder's next check has failed and it has been told to stop.
// This relies on leaders honouring context cancellation promptly; writes that
// need stronger fencing should use Swarm's version index as well.
type Elector struct {
	// Connect opens the dedicated connection that holds the lock; required.
	// It must not come from a pool: the lock belongs to the session.
	Connect func(ctx context.Context) (*pgx.Conn, error)
	// LockID is the advisory lock key; every replica of one installation
	// must use the same value, and nothing else may use it.
	LockID int64
	// RetryInterval is the pause between attempts to take the lock, and
	// before campaigning again after a term ends; DefaultRetryInterval if zero.
	RetryInterval time.Duration
	// CheckInterval is how often the leader confirms it still holds the lock;
	// DefaultCheckInterval if zero.
	CheckInterval time.Duration
	// CheckTimeout bounds one confirmation; a slower answer counts as lost
	// leadership. DefaultCheckTimeout if zero.
	CheckTimeout time.Duration
	// Metrics receives the paas_leader gauge; DefaultMetrics if nil.
	Metrics *Metrics

	mu     sync.Mutex  // orders the start of a term against its loss
	leader atomic.Bool // true from "acquired" until the lease is lost or lead returns
}

// IsLeader reports whether this elector holds leadership: it turns false as
// soon as a check fails, even before lead has returned.
func (e *Elector) IsLeader() bool { return e.leader.Load() }

func (e *Elector) setLeader(v bool) {
	e.leader.Store(v)
	m := e.Metrics
	if m == nil {
		m = DefaultMetrics
	}
	if v {
		m.Leader.Set(1)
	} else {
		m.Leader.Set(0)
	}
}

// Run campaigns for leadership until ctx is done, calling lead for every
// term won; lead's context is cancelled when leadership is lost or ctx ends,
// and lead must return promptly then. Run returns nil once ctx is done and
// lead has returned; it returns an error only for an incomplete configuration.
func (e *Elector) Run(ctx context.Context, lead func(ctx context.Context)) error {
	if e.Connect == nil || lead == nil {
		return errors.New("elector: Connect and lead are required")
	}
	log := zerolog.Ctx(ctx).With().Int64("lock_id", e.LockID).Logger()
	ctx = log.WithContext(ctx)
	retry := cmp.Or(e.RetryInterval, DefaultRetryInterval)
	for {
		err := e.campaign(ctx, lead)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			log.Warn().Err(err).Dur("retry_in", retry).Msg("leader election")
		}
		if !Sleep(ctx, retry) {
			return nil
		}
	}
}

// campaign takes the lock on a fresh connection, leads one term and releases
// the lock; it returns why the lock could not be had, or nil after a term
// (whose end hold has logged).
func (e *Elector) campaign(ctx context.Context, lead func(context.Context)) error {
	conn, err := e.Connect(ctx)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer func() {
		// Closing the session releases the lock even if the unlock below failed.
		closeCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = conn.Close(closeCtx)
	}()

	for {
		var got bool
		if err := conn.QueryRow(ctx, "SELECT pg_try_advisory_lock($1)", e.LockID).Scan(&got); err != nil {
			return fmt.Errorf("try lock: %w", err)
		}
		if got {
			break
		}
		if !Sleep(ctx, cmp.Or(e.RetryInterval, DefaultRetryInterval)) {
			return ctx.Err()
		}
	}

	e.hold(ctx, conn, lead)

	// Unlock explicitly so a successor need not wait for the close to land.
	unlockCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cmp.Or(e.CheckTimeout, DefaultCheckTimeout))
	defer cancel()
	_, _ = conn.Exec(unlockCtx, "SELECT pg_advisory_unlock($1)", e.LockID)
	return nil
}

// hold runs one term on conn, which holds the lock, and logs why it ended.
func (e *Elector) hold(ctx context.Context, conn *pgx.Conn, lead func(context.Context)) {
	log := zerolog.Ctx(ctx)
	interval := cmp.Or(e.CheckInterval, DefaultCheckInterval)
	timeout := cmp.Or(e.CheckTimeout, DefaultCheckTimeout)

	leaderCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	monitorDone := make(chan struct{})
	go func() {
		defer close(monitorDone)
		e.monitor(leaderCtx, cancel, conn, interval, timeout)
	}()

	// Let the previous leader notice it lost the lock before we act.
	log.Debug().Msg("took leader lock; waiting out the previous leader")
	if Sleep(leaderCtx, interval+timeout) && e.begin(leaderCtx) {
		log.Info().Msg("acquired leadership")
		lead(leaderCtx)
	}
	e.end(cancel, errLeadReturned) // no-op if the term already ended otherwise
	<-monitorDone                  // conn is not safe for concurrent use

	cause := context.Cause(leaderCtx)
	switch {
	case ctx.Err() != nil:
		log.Info().Msg("released leadership: shutting down")
	case errors.Is(cause, errLeadReturned):
		log.Info().Msg("released leadership: lead returned")
	default:
		log.Warn().Err(cause).Msg("lost leadership: " + cause.Error())
	}
}

// monitor confirms the lock every interval and ends the term on a failure.
func (e *Elector) monitor(ctx context.Context, cancel context.CancelCauseFunc, conn *pgx.Conn, interval, timeout time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := e.check(ctx, conn, timeout); err != nil {
			e.end(cancel, fmt.Errorf("lease check: %w", err))
			return
		}
	}
}

// begin marks the term started unless it has already been ended.
func (e *Elector) begin(leaderCtx context.Context) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if leaderCtx.Err() != nil {
		return false
	}
	e.setLeader(true)
	return true
}

// end marks the term over and cancels its context with cause; under the same
// lock as begin, so a term that lost its lease is never reported as held.
func (e *Elector) end(cancel context.CancelCauseFunc, cause error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.setLeader(false)
	cancel(cause)
}

// check confirms that this session still holds the lock. Looking in pg_locks
// rather than running SELECT 1 also catches a lock released behind our back
// (e.g. by a stray pg_advisory_unlock_all on this session).
func (e *Elector) check(ctx context.Context, conn *pgx.Conn, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	// A bigint advisory key appears as classid (high half), objid (low half)
	// and objsubid 1.
	hi, lo := uint32(uint64(e.LockID)>>32), uint32(uint64(e.LockID))
	var held bool
	err := conn.QueryRow(ctx, `SELECT EXISTS (
		SELECT 1 FROM pg_locks
		WHERE locktype = 'advisory' AND pid = pg_backend_pid() AND granted
		  AND classid = $1 AND objid = $2 AND objsubid = 1)`, hi, lo).Scan(&held)
	if err != nil {
		return err
	}
	if !held {
		return errors.New("advisory lock no longer held")
	}
	return nil
}
