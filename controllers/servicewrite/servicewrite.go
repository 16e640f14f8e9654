// Package servicewrite is the one way a reconcile loop changes an app's
// Swarm service: it starts from the live spec, replaces only the fields the
// loop declared (servicespec.Ownership), writes with the service's current
// Version.Index, re-reads and retries when another writer got there first,
// refreshes the observed cache and records an event saying what changed.
package servicewrite

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/docker/docker/api/types"
	"github.com/docker/docker/api/types/swarm"
	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/skypanel/paas/controllers/observed"
	"github.com/skypanel/paas/controllers/runtime"
	"github.com/skypanel/paas/controllers/servicespec"
	"github.com/skypanel/paas/store"
)

// Docker is the engine call a Writer makes.
type Docker interface {
	ServiceUpdate(ctx context.Context, id string, version swarm.Version, spec swarm.ServiceSpec, opts types.ServiceUpdateOptions) (swarm.ServiceUpdateResponse, error)
}

// Events records what a write did.
type Events interface {
	RecordEvent(ctx context.Context, arg store.RecordEventParams) (store.Event, error)
}

// Event types and the reason that counts as a drift correction.
const (
	// Normal is an event about expected work.
	Normal = "Normal"
	// Warning is an event about something that went wrong or was repaired.
	Warning = "Warning"
	// ReasonDriftReverted marks a write that undid a hand edit; the Writer counts it.
	ReasonDriftReverted = servicespec.ReasonDriftReverted
)

// DefaultAttempts is how many writes Update tries when each finds the
// service changed under it.
const DefaultAttempts = 8

// Change is what one loop wants written: its fields' desired values and
// the event that explains the write.
type Change struct {
	// Spec carries the desired values of the writing loop's fields; every
	// other field is taken from the live spec, whatever Spec holds there.
	Spec swarm.ServiceSpec
	// Type is Normal or Warning.
	Type string
	// Reason is one CamelCase word (Scaled, Updated, DriftReverted...).
	Reason string
	// Message is one sentence; it must not carry secrets (env values).
	Message string
}

// PlanFunc decides, from the live service, what to write; nil means the
// live service is already right. It is called again with a fresh read
// after a conflict, so it must be a pure decision.
type PlanFunc func(live swarm.Service) (*Change, error)

// Writer writes loops' fields of app services; configure it by fields.
type Writer struct {
	// Docker writes services; required.
	Docker Docker
	// Services is the observed cache: the live spec comes from it and is
	// refreshed in it after each write or conflict; required.
	Services *observed.Services
	// Ownership says which fields each loop owns; required.
	Ownership servicespec.Ownership
	// Events records each write's event; required.
	Events Events
	// Now dates events; required.
	Now func() time.Time
	// DriftCorrections, when set, counts DriftReverted writes by loop.
	DriftCorrections *prometheus.CounterVec
	// Attempts bounds the writes tried per Update (DefaultAttempts if zero).
	Attempts int
}

// Update writes loop's share of app's service as plan decides, retrying
// at once from a fresh read when Swarm answers "update out of sequence"
// (another loop or a person wrote in between). It returns the service as
// observed after the write, or as it was when plan wanted nothing; nil
// when the app has no service (creating one is the app loop's business).
func (w *Writer) Update(ctx context.Context, loop string, app uuid.UUID, plan PlanFunc) (*swarm.Service, error) {
	attempts := w.Attempts
	if attempts <= 0 {
		attempts = DefaultAttempts
	}
	for attempt := 1; ; attempt++ {
		live, ok := w.Services.Get(app.String())
		if !ok {
			return nil, nil
		}
		ch, err := plan(live)
		if err != nil || ch == nil {
			return &live, err
		}
		spec := w.Ownership.Merge(loop, live.Spec, ch.Spec)
		_, err = w.Docker.ServiceUpdate(ctx, live.ID, live.Version, spec, types.ServiceUpdateOptions{})
		if isOutOfSequence(err) && attempt < attempts {
			zerolog.Ctx(ctx).Debug().Uint64("version", live.Version.Index).Str("service", live.Spec.Name).Int("attempt", attempt).Msg("service changed under the write; re-reading")
			// Writers that collided tend to collide again in lockstep: a
			// short random pause, growing with the attempts, breaks the tie.
			if !runtime.Sleep(ctx, time.Duration(rand.Int64N(int64(attempt)*int64(5*time.Millisecond)))) {
				return nil, ctx.Err()
			}
			if _, _, err := w.Services.Refresh(ctx, live.ID); err != nil {
				return nil, err
			}
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("update service %s: %w", live.Spec.Name, err)
		}
		w.record(ctx, loop, app, *ch)
		if _, _, err := w.Services.Refresh(ctx, live.ID); err != nil {
			return nil, err
		}
		svc, ok := w.Services.Get(app.String())
		if !ok {
			return nil, fmt.Errorf("service %s vanished after the write", live.Spec.Name)
		}
		return &svc, nil
	}
}

// record logs and stores the change's event, and counts drift corrections.
func (w *Writer) record(ctx context.Context, loop string, app uuid.UUID, ch Change) {
	if ch.Reason == ReasonDriftReverted && w.DriftCorrections != nil {
		w.DriftCorrections.WithLabelValues(loop).Inc()
	}
	Record(ctx, w.Events, w.Now(), loop, app, ch.Type, ch.Reason, ch.Message)
}

// Record logs an app event and stores it (deduplicated with a count); a
// failure to store is logged, never fatal to the reconcile.
func Record(ctx context.Context, events Events, at time.Time, loop string, app uuid.UUID, typ, reason, msg string) {
	log := zerolog.Ctx(ctx)
	lvl := log.Info()
	if typ == Warning {
		lvl = log.Warn()
	}
	lvl.Str("reason", reason).Str("app", app.String()).Msg(msg)
	if _, err := events.RecordEvent(ctx, store.RecordEventParams{
		ObjectKind: "app", ObjectID: app, Type: typ, Reason: reason, Message: msg,
		ReportingController: loop, At: at,
	}); err != nil {
		log.Warn().Err(err).Msg("record event")
	}
}

func isOutOfSequence(err error) bool {
	return err != nil && strings.Contains(err.Error(), "update out of sequence")
}
