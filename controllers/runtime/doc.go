// Package runtime is the reconcile runtime of the control plane: a work queue
// that feeds keys to reconcilers, and the sources that enqueue those keys
// (Postgres LISTEN/NOTIFY, the Docker events stream, a periodic resync), plus
// leader election so that only one replica reconciles at a time.
//
// It copies the semantics of Kubernetes' controller-runtime: reconciles are
// level-triggered and get only a key, so a source may drop, merge or repeat
// events freely as long as it asks for a full resync after it reconnects.
//
// Every long-running part has a Run(ctx) method that blocks until ctx ends and
// then returns nil; errors are returned only for a configuration that cannot
// work. Logs go to the zerolog logger carried in ctx (zerolog.Ctx).
package runtime
