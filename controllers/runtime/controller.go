package runtime

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/time/rate"
	"k8s.io/client-go/util/workqueue"

	"github.com/skypanel/paas/store/key"
)

// Result tells the controller what to do with a key after a successful reconcile.
type Result struct {
	// RequeueAfter, when positive, reconciles the key again after this delay,
	// e.g. to poll a rollout; the key's error backoff is reset regardless.
	RequeueAfter time.Duration
}

// Reconciler brings the observed state of one object to its desired state.
type Reconciler interface {
	// Reconcile acts on key; it must be idempotent and level-triggered (read
	// everything it needs afresh), and must return soon after ctx is done.
	Reconcile(ctx context.Context, k key.Key) (Result, error)
}

// ReconcilerFunc adapts a plain function to the Reconciler interface.
type ReconcilerFunc func(ctx context.Context, k key.Key) (Result, error)

// Reconcile calls f.
func (f ReconcilerFunc) Reconcile(ctx context.Context, k key.Key) (Result, error) {
	return f(ctx, k)
}

// Defaults of the rate limiter built by DefaultRateLimiter.
const (
	DefaultBackoffBase = 50 * time.Millisecond
	DefaultBackoffMax  = 5 * time.Minute
	DefaultQPS         = 50
	DefaultBurst       = 300
)

// NewRateLimiter returns the limiter for failed keys: per-key exponential
// backoff from base to max, combined with an overall token bucket of qps and
// burst so that a mass failure (e.g. dockerd down) cannot spin every worker.
func NewRateLimiter(base, max time.Duration, qps float64, burst int) workqueue.TypedRateLimiter[key.Key] {
	return workqueue.NewTypedMaxOfRateLimiter(
		workqueue.NewTypedItemExponentialFailureRateLimiter[key.Key](base, max),
		&workqueue.TypedBucketRateLimiter[key.Key]{Limiter: rate.NewLimiter(rate.Limit(qps), burst)},
	)
}

// DefaultRateLimiter returns NewRateLimiter with the package defaults.
func DefaultRateLimiter() workqueue.TypedRateLimiter[key.Key] {
	return NewRateLimiter(DefaultBackoffBase, DefaultBackoffMax, DefaultQPS, DefaultBurst)
}

// Controller feeds keys from a deduplicating, rate-limited work queue to a
// Reconciler.
//
// Invariants kept by the work queue: a key is queued at most once however
// often it is enqueued, and is never handed to two workers at once; a key
// enqueued while it is being reconciled is reconciled once more afterwards.
//
// Enqueue may be called before Run (keys wait for it) and Run may be called
// again after it returns, e.g. on the next leadership term; keys enqueued
// while no Run is active wait for the next one.
type Controller struct {
	// Name identifies the controller in logs and metric labels; it must be
	// unique within the process.
	Name string
	// Reconciler handles every key; required.
	Reconciler Reconciler
	// Workers is the number of keys reconciled in parallel; 1 if zero.
	Workers int
	// RateLimiter decides how long a failed key waits before its retry;
	// DefaultRateLimiter() if nil. It must not be changed once in use.
	RateLimiter workqueue.TypedRateLimiter[key.Key]
	// Metrics receives the controller's metrics; DefaultMetrics if nil.
	Metrics *Metrics

	mu      sync.Mutex
	queue   workqueue.TypedRateLimitingInterface[key.Key] // nil until first used; replaced after each Run
	running bool
}

// Enqueue asks for key to be reconciled as soon as a worker is free.
func (c *Controller) Enqueue(k key.Key) { c.getQueue().Add(k) }

// EnqueueAfter asks for key to be reconciled once d has passed.
func (c *Controller) EnqueueAfter(k key.Key, d time.Duration) { c.getQueue().AddAfter(k, d) }

// Len reports how many keys are ready and waiting for a worker.
func (c *Controller) Len() int { return c.getQueue().Len() }

func (c *Controller) metrics() *Metrics {
	if c.Metrics != nil {
		return c.Metrics
	}
	return DefaultMetrics
}

// getQueue returns the current queue, creating it on first use.
func (c *Controller) getQueue() workqueue.TypedRateLimitingInterface[key.Key] {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.queue == nil {
		if c.RateLimiter == nil {
			c.RateLimiter = DefaultRateLimiter()
		}
		depth := c.metrics().WorkqueueDepth.WithLabelValues(c.Name)
		depth.Set(0) // a previous queue may have been dropped with keys in it
		c.queue = workqueue.NewTypedRateLimitingQueueWithConfig(c.RateLimiter,
			workqueue.TypedRateLimitingQueueConfig[key.Key]{
				// The queue emits no metrics without a name.
				Name:            "paas_" + c.Name,
				MetricsProvider: depthProvider{depth: depth},
			})
	}
	return c.queue
}

// Run reconciles keys with Workers goroutines until ctx is done, then waits
// for in-flight reconciles to return and returns nil.
//
// Shutdown cancels the context of in-flight reconciles at once rather than
// letting them finish: Run's ctx is typically the leadership context, and a
// replica that has lost leadership must stop writing immediately because
// another one may already be reconciling. Run still waits (ShutDownWithDrain)
// for those reconciles to return, so nothing outlives Run; keys still queued
// are dropped, as the next leader starts with a full resync anyway.
func (c *Controller) Run(ctx context.Context) error {
	if c.Reconciler == nil {
		return errors.New("controller " + c.Name + ": no Reconciler")
	}
	q := c.getQueue()
	c.mu.Lock()
	if c.running {
		c.mu.Unlock()
		return errors.New("controller " + c.Name + ": already running")
	}
	c.running = true
	c.mu.Unlock()

	log := zerolog.Ctx(ctx).With().Str("controller", c.Name).Logger()
	ctx = log.WithContext(ctx)
	workers := max(c.Workers, 1)
	log.Info().Int("workers", workers).Msg("controller started")

	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for c.processNext(ctx, q) {
			}
		})
	}
	<-ctx.Done()
	q.ShutDownWithDrain()
	wg.Wait()

	c.mu.Lock()
	c.queue, c.running = nil, false
	c.mu.Unlock()
	log.Info().Msg("controller stopped")
	return nil
}

// processNext handles one key and reports whether the worker should go on.
func (c *Controller) processNext(ctx context.Context, q workqueue.TypedRateLimitingInterface[key.Key]) bool {
	k, shutdown := q.Get()
	if shutdown {
		return false
	}
	defer q.Done(k)
	if ctx.Err() != nil {
		return true // shutting down: drain the queue without starting new work
	}

	log := zerolog.Ctx(ctx).With().Stringer("key", k).Logger()
	start := time.Now()
	res, err := c.reconcile(log.WithContext(ctx), k)
	m := c.metrics()
	m.ReconcileDuration.WithLabelValues(c.Name).Observe(time.Since(start).Seconds())

	switch {
	case err != nil:
		m.ReconcileTotal.WithLabelValues(c.Name, ResultError).Inc()
		if ctx.Err() != nil {
			// Cancelled by shutdown: expected, and the retry would be dropped.
			log.Debug().Err(err).Msg("reconcile interrupted by shutdown")
			return true
		}
		log.Error().Err(err).Int("retries", q.NumRequeues(k)).Msg("reconcile failed")
		q.AddRateLimited(k)
	case res.RequeueAfter > 0:
		m.ReconcileTotal.WithLabelValues(c.Name, ResultRequeue).Inc()
		q.Forget(k)
		q.AddAfter(k, res.RequeueAfter)
	default:
		m.ReconcileTotal.WithLabelValues(c.Name, ResultSuccess).Inc()
		q.Forget(k)
	}
	return true
}

// reconcile calls the Reconciler and turns a panic into an error, so that one
// bad object cannot crash the process and is retried with backoff instead.
func (c *Controller) reconcile(ctx context.Context, k key.Key) (res Result, err error) {
	defer func() {
		if r := recover(); r != nil {
			zerolog.Ctx(ctx).Error().Str("panic", fmt.Sprint(r)).Bytes("stack", debug.Stack()).
				Msg("reconcile panicked")
			err = fmt.Errorf("reconcile panicked: %v", r)
		}
	}()
	return c.Reconciler.Reconcile(ctx, k)
}
