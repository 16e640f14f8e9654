// Package pgnotify delivers Postgres LISTEN/NOTIFY notifications from a
// dedicated connection that reconnects after any failure. It is shared by
// the reconcilers and the API, so it depends on pgx and zerolog only.
package pgnotify

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/rs/zerolog"
)

// DefaultReconnectDelay is the pause between reconnect attempts of a
// Listener whose ReconnectDelay is zero.
const DefaultReconnectDelay = time.Second

// DefaultPingInterval is the silence after which a Listener whose
// PingInterval is zero pings its connection.
const DefaultPingInterval = 15 * time.Second

// Listener delivers Postgres notifications from a dedicated connection and
// reconnects after any failure.
//
// Notifications sent while the connection is down are lost for good, so
// OnConnect runs after every (re)connect, once LISTEN is active, for the
// caller to resync everything; anything that changes after LISTEN is active
// is notified again, so nothing falls between the resync and the stream.
type Listener struct {
	// Connect opens the connection to listen on; required. It must be a plain
	// connection, not one from a pool that something else may use.
	Connect func(ctx context.Context) (*pgx.Conn, error)
	// Channels are the channel names to LISTEN on; at least one is required.
	Channels []string
	// Handle receives each notification; required. It runs on the listening
	// goroutine, so it should be quick (enqueue a key) rather than do the work.
	Handle func(ctx context.Context, channel, payload string)
	// OnConnect, if set, runs after every successful (re)connect once LISTEN
	// is active; like Handle it should be quick (e.g. Resync.Trigger).
	OnConnect func(ctx context.Context)
	// OnDisconnect, if set, runs as soon as a connection that reached
	// OnConnect fails or Run's ctx ends, before the connection is closed:
	// from then until the next OnConnect notifications are lost.
	OnDisconnect func()
	// PingInterval is how long the connection may stay silent before it is
	// pinged, so a half-open connection is noticed (DefaultPingInterval if
	// zero).
	PingInterval time.Duration
	// ReconnectDelay is the pause before reconnecting after a failure;
	// DefaultReconnectDelay if zero.
	ReconnectDelay time.Duration
}

// Run listens until ctx is done, reconnecting after every failure, and then
// returns nil; it returns an error only for an incomplete configuration.
func (l *Listener) Run(ctx context.Context) error {
	if l.Connect == nil || l.Handle == nil || len(l.Channels) == 0 {
		return errors.New("listener: Connect, Handle and Channels are required")
	}
	log := zerolog.Ctx(ctx).With().Strs("channels", l.Channels).Logger()
	for {
		err := l.listen(ctx)
		if ctx.Err() != nil {
			return nil
		}
		delay := cmp.Or(l.ReconnectDelay, DefaultReconnectDelay)
		log.Warn().Err(err).Dur("retry_in", delay).Msg("listener disconnected")
		if !sleep(ctx, delay) {
			return nil
		}
	}
}

// listen runs one connection until it fails; it never returns nil.
func (l *Listener) listen(ctx context.Context) error {
	conn, err := l.Connect(ctx)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer func() {
		// ctx may be done already; closing politely still needs a moment.
		closeCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = conn.Close(closeCtx)
	}()

	for _, ch := range l.Channels {
		if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{ch}.Sanitize()); err != nil {
			return fmt.Errorf("listen %s: %w", ch, err)
		}
	}
	zerolog.Ctx(ctx).Info().Strs("channels", l.Channels).Msg("listening")
	if l.OnDisconnect != nil {
		// Deferred after the close, so it runs first.
		defer l.OnDisconnect()
	}
	if l.OnConnect != nil {
		l.OnConnect(ctx)
	}
	ping := cmp.Or(l.PingInterval, DefaultPingInterval)
	for {
		// A timeout only interrupts the read (pgx sets a deadline); the
		// connection stays usable for the ping.
		wctx, cancel := context.WithTimeout(ctx, ping)
		n, err := conn.WaitForNotification(wctx)
		cancel()
		if err != nil && ctx.Err() == nil && errors.Is(wctx.Err(), context.DeadlineExceeded) {
			pctx, cancel := context.WithTimeout(ctx, ping)
			err = conn.Ping(pctx)
			cancel()
			if err != nil {
				return fmt.Errorf("ping after %s of silence: %w", ping, err)
			}
			continue
		}
		if err != nil {
			return fmt.Errorf("wait for notification: %w", err)
		}
		l.Handle(ctx, n.Channel, n.Payload)
	}
}

// sleep waits for d or until ctx is done, and reports whether d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
