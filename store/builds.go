package store

import (
	"context"

	"github.com/google/uuid"
)

// QueueBuild queues the next build of app at ref and supersedes the app's
// older queued builds, in one transaction.
func (s *Store) QueueBuild(ctx context.Context, app uuid.UUID, ref, trigger string) (PaasBuild, error) {
	var b PaasBuild
	err := s.InTx(ctx, func(q *Queries) error {
		var err error
		b, err = QueueBuildIn(ctx, q, app, ref, trigger)
		return err
	})
	return b, err
}

// QueueBuildIn is QueueBuild inside the caller's transaction, for writes
// that must take other locks or limits with it (max_deployments_per_hour).
func QueueBuildIn(ctx context.Context, q *Queries, app uuid.UUID, ref, trigger string) (PaasBuild, error) {
	b, err := q.EnqueueBuild(ctx, EnqueueBuildParams{AppID: app, Ref: ref, Trigger: trigger})
	if err != nil {
		return b, err
	}
	return b, q.SupersedeQueuedBuilds(ctx, SupersedeQueuedBuildsParams{AppID: app, ByNumber: b.Number})
}
