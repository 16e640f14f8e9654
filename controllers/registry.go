package controllers

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/docker/docker/api/types/events"

	"github.com/skypanel/paas/controllers/network"
	"github.com/skypanel/paas/controllers/observed"
	"github.com/skypanel/paas/controllers/runtime"
	"github.com/skypanel/paas/controllers/servicespec"
	"github.com/skypanel/paas/controllers/servicewrite"
	"github.com/skypanel/paas/store"
	"github.com/skypanel/paas/store/key"
)

// Loop declares one reconcile loop: the kind of key it reconciles, the
// sources that wake it, the fields of an app's Swarm service it owns, and
// how to build its reconciler. The Manager starts every registered loop on
// the leader; adding a loop is one Register call plus its reconciler.
type Loop struct {
	// Name identifies the loop in logs, metrics, events and field
	// ownership; unique among the registered loops.
	Name string
	// Kind is the kind of key the loop reconciles; keys of other kinds
	// never reach it.
	Kind key.Kind
	// Workers is the number of keys reconciled in parallel; the Manager's
	// Workers if zero.
	Workers int
	// Wakes lists the sources that enqueue the loop's keys.
	Wakes Wakes
	// Owns declares the parts of an app's Swarm service the loop writes
	// (through Shared.Writer); the zero value owns nothing.
	Owns servicespec.Fields
	// New builds the reconciler for one leadership term; required.
	New func(s Shared) runtime.Reconciler
}

// Wakes lists the sources that enqueue a loop's keys.
type Wakes struct {
	// Notify selects Postgres notifications whose payload is a key.
	Notify []Notify
	// DockerEvents are the Docker event types that wake the loop: a
	// service event (and a change seen by the poller of moving services)
	// wakes the app key of the service, a node event node/<swarm id>, a
	// container event of a Swarm task the app key of its service, a network
	// event (creation or removal) org/<uuid> of the organization's network.
	DockerEvents []events.Type
	// Cron enqueues fixed keys on schedules.
	Cron []Cron
	// Resync, when set, lists every key to reconcile at each full resync
	// (at the start of a leadership term, every ResyncInterval, and after a
	// notification or event stream reconnects). It runs after the observed
	// service cache has been refreshed.
	Resync func(ctx context.Context, s Shared) ([]key.Key, error)
}

// Notify selects the notifications on Channel whose payload starts with Prefix.
type Notify struct {
	// Channel is the Postgres channel to LISTEN on.
	Channel string
	// Prefix filters payloads, e.g. "app/"; empty accepts every key.
	Prefix string
}

// Cron enqueues Key on Schedule.
type Cron struct {
	// Schedule is a robfig/cron spec: five fields, or a descriptor such as
	// "@hourly" or "@every 30s".
	Schedule string
	// Key is what the schedule enqueues.
	Key key.Key
}

// Shared is what every loop's reconciler may use during one leadership term.
type Shared struct {
	// Store is the database.
	Store *store.Store
	// Services is the observed cache of this installation's services.
	Services *observed.Services
	// Networks is the observed cache of this installation's organization networks.
	Networks *network.Networks
	// Writer writes a loop's declared fields of a service.
	Writer *servicewrite.Writer
	// Ownership is every registered loop's declared fields.
	Ownership servicespec.Ownership
}

// Docker event types a loop may declare.
const (
	// ServiceEvents are events of Swarm services (and changes the poller sees).
	ServiceEvents = events.ServiceEventType
	// NodeEvents are events of Swarm nodes.
	NodeEvents = events.NodeEventType
	// TaskEvents are events of the local containers of Swarm tasks.
	TaskEvents = events.ContainerEventType
	// NetworkEvents are creations and removals of this installation's
	// organization networks.
	NetworkEvents = events.NetworkEventType
)

// checkLoops validates a registration and returns the declared ownership.
func checkLoops(loops []Loop) (servicespec.Ownership, error) {
	var errs []error
	names := map[string]bool{}
	owners := map[string]servicespec.Fields{}
	for _, l := range loops {
		switch {
		case l.Name == "":
			errs = append(errs, errors.New("a loop has no name"))
		case names[l.Name]:
			errs = append(errs, fmt.Errorf("loop %s is registered twice", l.Name))
		}
		names[l.Name] = true
		if _, err := key.Parse(string(l.Kind) + "/x"); err != nil {
			errs = append(errs, fmt.Errorf("loop %s: kind %q is not a key kind", l.Name, l.Kind))
		}
		if l.New == nil {
			errs = append(errs, fmt.Errorf("loop %s: New is required", l.Name))
		}
		for _, t := range l.Wakes.DockerEvents {
			if !slices.Contains([]events.Type{ServiceEvents, NodeEvents, TaskEvents, NetworkEvents}, t) {
				errs = append(errs, fmt.Errorf("loop %s: Docker event type %q is not one of service, node, container, network", l.Name, t))
			}
		}
		for _, n := range l.Wakes.Notify {
			if n.Channel == "" {
				errs = append(errs, fmt.Errorf("loop %s: a notification source has no channel", l.Name))
			}
		}
		for _, c := range l.Wakes.Cron {
			if _, err := cronParser.Parse(c.Schedule); err != nil {
				errs = append(errs, fmt.Errorf("loop %s: cron schedule %q: %w", l.Name, c.Schedule, err))
			}
			if c.Key.Kind != l.Kind {
				errs = append(errs, fmt.Errorf("loop %s: cron key %s is not of kind %s", l.Name, c.Key, l.Kind))
			}
		}
		owners[l.Name] = l.Owns
	}
	own, err := servicespec.NewOwnership(owners)
	errs = append(errs, err)
	if err := errors.Join(errs...); err != nil {
		return servicespec.Ownership{}, fmt.Errorf("controllers: %w", err)
	}
	return own, nil
}

// router delivers keys from the sources to the loops that declared them.
// It is built once per leadership term and only read afterwards.
type router struct {
	loops []routed
}

type routed struct {
	loop       Loop
	controller *runtime.Controller
}

// notified routes a notification: to every loop of the key's kind that
// listens on channel with a matching prefix. Malformed payloads reach no
// loop and are reported.
func (r *router) notified(channel, payload string) (key.Key, int, error) {
	k, err := key.Parse(payload)
	if err != nil {
		return key.Key{}, 0, err
	}
	n := 0
	for _, l := range r.loops {
		if l.loop.Kind == k.Kind && slices.ContainsFunc(l.loop.Wakes.Notify, func(s Notify) bool {
			return s.Channel == channel && strings.HasPrefix(payload, s.Prefix)
		}) {
			l.controller.Enqueue(k)
			n++
		}
	}
	return k, n, nil
}

// event routes a key derived from a Docker event of type t.
func (r *router) event(t events.Type, k key.Key) int {
	n := 0
	for _, l := range r.loops {
		if l.loop.Kind == k.Kind && slices.Contains(l.loop.Wakes.DockerEvents, t) {
			l.controller.Enqueue(k)
			n++
		}
	}
	return n
}

// channels lists the Postgres channels any loop listens on.
func (r *router) channels() []string {
	var out []string
	for _, l := range r.loops {
		for _, n := range l.loop.Wakes.Notify {
			if !slices.Contains(out, n.Channel) {
				out = append(out, n.Channel)
			}
		}
	}
	return out
}

// eventTypes lists the Docker event types any loop declared.
func (r *router) eventTypes() []events.Type {
	var out []events.Type
	for _, l := range r.loops {
		for _, t := range l.loop.Wakes.DockerEvents {
			if !slices.Contains(out, t) {
				out = append(out, t)
			}
		}
	}
	return out
}
