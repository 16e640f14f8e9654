package runtime

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/swarm"
	"github.com/docker/docker/client"
)

func dockerClient(t *testing.T) *client.Client {
	t.Helper()
	cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		t.Fatalf("docker client: %v", err)
	}
	t.Cleanup(func() { _ = cli.Close() })
	return cli
}

func TestDockerEventsDeliversSwarmConfigEvents(t *testing.T) {
	ctx := testCtx(t)
	cli := dockerClient(t)
	if _, err := cli.Ping(ctx); err != nil {
		t.Fatalf("docker is not reachable: %v", err)
	}

	msgs := make(chan events.Message, 64)
	connected := make(chan struct{}, 4)
	var nConnects atomic.Int64
	d := &DockerEvents{
		Client:  cli,
		Filters: filters.NewArgs(filters.Arg("type", string(events.ConfigEventType))),
		Handle:  func(ctx context.Context, m events.Message) { msgs <- m },
		OnConnect: func(ctx context.Context) {
			nConnects.Add(1)
			connected <- struct{}{}
		},
		ReconnectDelay: 50 * time.Millisecond,
	}
	start(t, ctx, d.Run)
	recv(t, connected, 10*time.Second, "OnConnect")

	name := uniqueName("paas-runtime-test")
	created, err := cli.ConfigCreate(ctx, swarm.ConfigSpec{
		Annotations: swarm.Annotations{Name: name, Labels: map[string]string{"paas.test": "runtime"}},
		Data:        []byte("hello"),
	})
	if err != nil {
		t.Fatalf("create swarm config (is swarm active?): %v", err)
	}
	removed := false
	t.Cleanup(func() {
		if !removed {
			_ = cli.ConfigRemove(context.Background(), created.ID)
		}
	})

	await := func(action events.Action) {
		t.Helper()
		deadline := time.After(10 * time.Second)
		for {
			select {
			case m := <-msgs:
				if m.Type != events.ConfigEventType {
					t.Fatalf("got %s event despite the type=config filter", m.Type)
				}
				if m.Actor.ID == created.ID && m.Action == action {
					return
				}
			case <-deadline:
				t.Fatalf("no config %s event for %s within 10s", action, created.ID)
			}
		}
	}
	await(events.ActionCreate)
	if err := cli.ConfigRemove(ctx, created.ID); err != nil {
		t.Fatalf("remove config: %v", err)
	}
	removed = true
	await(events.ActionRemove)
	if n := nConnects.Load(); n != 1 {
		t.Errorf("OnConnect fired %d times on a healthy stream, want 1", n)
	}
}

// fakeEvents imitates the Docker client: each call answers with the next
// scripted behaviour.
type fakeEvents struct {
	mu    sync.Mutex
	calls int
	// down[i] makes call i fail the way the real client does when dockerd is
	// unreachable: the error arrives on errs just after Events has returned.
	down []bool
	// live receives the channels of each healthy subscription.
	live chan fakeStream
}

type fakeStream struct {
	msgs chan events.Message
	errs chan error
}

func (f *fakeEvents) Events(ctx context.Context, _ events.ListOptions) (<-chan events.Message, <-chan error) {
	f.mu.Lock()
	i := f.calls
	f.calls++
	f.mu.Unlock()
	s := fakeStream{msgs: make(chan events.Message), errs: make(chan error, 1)}
	if i < len(f.down) && f.down[i] {
		go func() {
			time.Sleep(time.Millisecond)
			s.errs <- errors.New("Cannot connect to the Docker daemon")
		}()
		return s.msgs, s.errs
	}
	f.live <- s
	return s.msgs, s.errs
}

func (f *fakeEvents) callCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

func TestDockerEventsOnConnectOnlyWhenEstablished(t *testing.T) {
	ctx := testCtx(t)
	// Calls 0-2 fail as if dockerd were down, 3 works, 4 fails, 5 works.
	f := &fakeEvents{down: []bool{true, true, true, false, true, false}, live: make(chan fakeStream, 4)}
	var nConnects atomic.Int64
	handled := make(chan events.Message, 4)
	d := &DockerEvents{
		Client:         f,
		Handle:         func(ctx context.Context, m events.Message) { handled <- m },
		OnConnect:      func(ctx context.Context) { nConnects.Add(1) },
		ReconnectDelay: 5 * time.Millisecond,
		ConfirmAfter:   50 * time.Millisecond,
	}
	start(t, ctx, d.Run)

	s := recv(t, f.live, 10*time.Second, "first healthy subscription")
	if n := nConnects.Load(); n != 0 {
		t.Fatalf("OnConnect fired %d times while dockerd was down, want 0", n)
	}
	eventually(t, 5*time.Second, func() bool { return nConnects.Load() == 1 }, "OnConnect after the confirm window")
	s.msgs <- events.Message{Type: events.ServiceEventType, Action: events.ActionUpdate, Actor: events.Actor{ID: "svc1"}}
	if m := recv(t, handled, 5*time.Second, "event"); m.Actor.ID != "svc1" {
		t.Fatalf("handled %+v, want svc1", m)
	}

	// dockerd restarts: the stream breaks, one retry fails, then it is back.
	s.errs <- errors.New("unexpected EOF")
	s = recv(t, f.live, 10*time.Second, "resubscription")
	// A message confirms the stream at once, before the window ends.
	s.msgs <- events.Message{Type: events.NodeEventType, Actor: events.Actor{ID: "node1"}}
	if m := recv(t, handled, 5*time.Second, "event after resubscribe"); m.Actor.ID != "node1" {
		t.Fatalf("handled %+v, want node1", m)
	}
	if n := nConnects.Load(); n != 2 {
		t.Fatalf("OnConnect count = %d, want 2 (once per established stream)", n)
	}
	if c := f.callCount(); c != 6 {
		t.Fatalf("Events called %d times, want 6", c)
	}
}

// countingEvents counts subscriptions made through the wrapped client.
type countingEvents struct {
	EventsClient
	n atomic.Int64
}

func (c *countingEvents) Events(ctx context.Context, o events.ListOptions) (<-chan events.Message, <-chan error) {
	c.n.Add(1)
	return c.EventsClient.Events(ctx, o)
}

func TestDockerEventsNoOnConnectWhileDaemonUnreachable(t *testing.T) {
	ctx := testCtx(t)
	// The real client pointed at a socket nobody listens on: its Events
	// returns channels and only then reports the failure.
	cli, err := client.NewClientWithOpts(client.WithHost("unix://"+t.TempDir()+"/nodocker.sock"),
		client.WithAPIVersionNegotiation())
	if err != nil {
		t.Fatalf("docker client: %v", err)
	}
	t.Cleanup(func() { _ = cli.Close() })
	c := &countingEvents{EventsClient: cli}
	var nConnects atomic.Int64
	d := &DockerEvents{
		Client:         c,
		Handle:         func(context.Context, events.Message) {},
		OnConnect:      func(context.Context) { nConnects.Add(1) },
		ReconnectDelay: 5 * time.Millisecond,
	}
	start(t, ctx, d.Run)
	eventually(t, 10*time.Second, func() bool { return c.n.Load() >= 5 }, "5 subscription attempts")
	if n := nConnects.Load(); n != 0 {
		t.Fatalf("OnConnect fired %d times with dockerd unreachable, want 0", n)
	}
}
