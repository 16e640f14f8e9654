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
		if b, err = q.EnqueueBuild(ctx, EnqueueBuildParams{AppID: app, Ref: ref, Trigger: trigger}); err != nil {
			return err
		}
		return q.SupersedeQueuedBuilds(ctx, SupersedeQueuedBuildsParams{AppID: app, ByNumber: b.Number})
	})
	return b, err
}
