package runtime

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/rs/zerolog"
)

// Resync runs a full resync periodically and whenever a source asks for one.
//
// Runs never overlap, and Triggers coalesce: any number of Triggers that
// arrive while a run is pending or in progress cause exactly one more run.
type Resync struct {
	// Interval is the time from the end of one run to the next periodic run;
	// zero means runs happen only on Trigger.
	Interval time.Duration
	// Do performs the resync, typically by enqueueing every key; required.
	// (It is not called Run so that Resync can have a Run method like every
	// other runnable in this package.)
	Do func(ctx context.Context)

	once    sync.Once
	pending chan struct{} // capacity 1: a full channel is the coalesced request
}

func (r *Resync) ch() chan struct{} {
	r.once.Do(func() { r.pending = make(chan struct{}, 1) })
	return r.pending
}

// Trigger asks for a resync as soon as possible; it never blocks, and may be
// called before Run starts, in which case Run resyncs at once.
func (r *Resync) Trigger() {
	select {
	case r.ch() <- struct{}{}:
	default: // a run is already pending
	}
}

// Run calls Do on every Trigger and every Interval until ctx is done, then
// returns nil; it returns an error only if Do is nil.
func (r *Resync) Run(ctx context.Context) error {
	if r.Do == nil {
		return errors.New("resync: Do is required")
	}
	pending := r.ch()
	var tick <-chan time.Time
	var timer *time.Timer
	if r.Interval > 0 {
		timer = time.NewTimer(r.Interval)
		defer timer.Stop()
		tick = timer.C
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-pending:
		case <-tick:
		}
		zerolog.Ctx(ctx).Debug().Msg("resync")
		r.Do(ctx)
		if timer != nil {
			// Count the interval from the end of this run, so a triggered run
			// also postpones the next periodic one. Reset on a fired or
			// stopped timer is safe since Go 1.23.
			timer.Reset(r.Interval)
		}
	}
}
