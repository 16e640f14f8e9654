package v1

import (
	"context"
	"net/http"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/skypanel/paas/api/openapi"
	"github.com/skypanel/paas/api/problem"
	"github.com/skypanel/paas/controllers/build"
)

// BuildCache clears one app's build cache on the engine; *build.Pruner
// satisfies it. The build cache is not desired state but a cache of the
// engine's: clearing it is a maintenance call, like reading logs, and it
// answers what it removed.
type BuildCache interface {
	ClearApp(ctx context.Context, app uuid.UUID) (build.CacheReport, error)
}

// DeleteBuildCache removes the app's local build images nothing uses and
// prunes the engine's BuildKit cache. A cache problem is reported in the
// answer and logged, never answered as a server error.
func (s *server) DeleteBuildCache(c echo.Context, ident openapi.AppPath, _ openapi.DeleteBuildCacheParams) error {
	app, err := s.findApp(c, ident)
	if err != nil {
		return err
	}
	if s.BuildCache == nil {
		return problem.New(http.StatusServiceUnavailable, problem.TypeNotConfigured, "Build cache not configured",
			"this paasd has no Docker engine to clear a build cache on")
	}
	ctx := c.Request().Context()
	rep, err := s.BuildCache.ClearApp(ctx, app.ID)
	if err != nil {
		// Nothing was removed (the engine or the settings could not be read).
		rep.Problems = append(rep.Problems, "clear the build cache: "+err.Error())
	}
	log := s.log.With().Str("app_id", app.ID.String()).Logger()
	rep.Log(&log, "build cache clear")
	out := openapi.BuildCacheReport{RemovedImages: len(rep.Removed), RemovedBytes: rep.Bytes, BuildCacheBytes: rep.BuildCacheBytes,
		Removed: []openapi.BuildCacheRemoval{}, KeptInUse: append([]string{}, rep.KeptInUse...), Problems: append([]string{}, rep.Problems...)}
	for _, r := range rep.Removed {
		out.Removed = append(out.Removed, openapi.BuildCacheRemoval{Tags: r.Image.Tags, Reason: openapi.BuildCacheRemovalReason(r.Reason), Bytes: r.Image.Size})
	}
	if err := audit(ctx, s.Store.Queries, caller(c), "app.build_cache.clear", "app", app.ID.String(), app.OrganizationID,
		map[string]any{"removed_images": out.RemovedImages, "removed_bytes": out.RemovedBytes, "problems": len(out.Problems)}); err != nil {
		s.log.Warn().Err(err).Msg("audit build cache clear")
	}
	return c.JSON(http.StatusOK, out)
}
