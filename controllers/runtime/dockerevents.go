package runtime

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/api/types/filters"
	"github.com/rs/zerolog"
)

// EventsClient is the part of the Docker client that DockerEvents needs;
// *client.Client satisfies it.
type EventsClient interface {
	// Events streams daemon events until ctx is done or the stream fails.
	Events(ctx context.Context, options events.ListOptions) (<-chan events.Message, <-chan error)
}

// DefaultConfirmAfter is how long a new Docker event stream must stay free of
// errors before DockerEvents counts it as established.
const DefaultConfirmAfter = 250 * time.Millisecond

// DockerEvents delivers the Docker events stream and resubscribes after any
// failure, such as a dockerd restart.
//
// Events that happen while the stream is down are lost, so OnConnect runs
// once after every successful (re)subscription for the caller to resync.
//
// Establishment is judged as follows, because the Docker client's Events
// returns once its HTTP request has been answered but reports a failed
// request (dockerd down, bad filter) on the error channel only a moment
// later: the stream counts as established when its first message arrives or
// when no error has arrived within ConfirmAfter. So while dockerd is down,
// OnConnect does not fire (and trigger a futile resync) on every retry.
type DockerEvents struct {
	// Client is the Docker client to subscribe with; required.
	Client EventsClient
	// Filters selects the events; type=service and type=node if empty.
	Filters filters.Args
	// Handle receives each event; required. It runs on the receiving
	// goroutine, so it should be quick (enqueue a key).
	Handle func(ctx context.Context, msg events.Message)
	// OnConnect, if set, runs once after every established subscription;
	// like Handle it should be quick (e.g. Resync.Trigger).
	OnConnect func(ctx context.Context)
	// ReconnectDelay is the pause before resubscribing after a failure;
	// DefaultReconnectDelay if zero.
	ReconnectDelay time.Duration
	// ConfirmAfter is the error-free time after which a new stream counts as
	// established; DefaultConfirmAfter if zero.
	ConfirmAfter time.Duration
}

// Run receives events until ctx is done, resubscribing after every failure,
// and then returns nil; it returns an error only for an incomplete
// configuration.
func (d *DockerEvents) Run(ctx context.Context) error {
	if d.Client == nil || d.Handle == nil {
		return errors.New("docker events: Client and Handle are required")
	}
	f := d.Filters
	if f.Len() == 0 {
		f = filters.NewArgs(filters.Arg("type", string(events.ServiceEventType)),
			filters.Arg("type", string(events.NodeEventType)))
	}
	for {
		err := d.subscribe(ctx, f)
		if ctx.Err() != nil {
			return nil
		}
		delay := cmp.Or(d.ReconnectDelay, DefaultReconnectDelay)
		zerolog.Ctx(ctx).Warn().Err(err).Dur("retry_in", delay).Msg("docker event stream lost")
		if !Sleep(ctx, delay) {
			return nil
		}
	}
}

// subscribe runs one event stream until it fails; it never returns nil.
func (d *DockerEvents) subscribe(ctx context.Context, f filters.Args) error {
	// Cancelling subCtx on return stops the client's reader goroutine.
	subCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	msgs, errs := d.Client.Events(subCtx, events.ListOptions{Filters: f})

	confirm := time.NewTimer(cmp.Or(d.ConfirmAfter, DefaultConfirmAfter))
	defer confirm.Stop()
	confirmC := confirm.C // nil once established
	established := func() {
		if confirmC == nil {
			return
		}
		confirmC = nil
		zerolog.Ctx(ctx).Info().Msg("docker event stream established")
		if d.OnConnect != nil {
			d.OnConnect(ctx)
		}
	}

	for {
		select {
		case <-confirmC:
			established()
		case msg := <-msgs:
			established()
			d.Handle(ctx, msg)
		case err, ok := <-errs:
			if !ok || err == nil {
				err = errors.New("stream closed")
			}
			return fmt.Errorf("docker events: %w", err)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
