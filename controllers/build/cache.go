package build

import (
	"cmp"
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	buildtypes "github.com/docker/docker/api/types/build"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/swarm"
	"github.com/google/uuid"
	"github.com/rs/zerolog"

	"github.com/skypanel/paas/store"
)

// The build cache. The classic builder's cache is the images it built,
// with their parent layers, on the engine of the leader: the runner tags
// each build <registry>/<org>/<app>:b<N> (label paas.build.commit). Those
// local images are what the pruner removes; the copies pushed to the
// registry stay there (services pull them from it). The engine's BuildKit
// cache is pruned too, with the same age and size bounds.

// Build cache settings.
const (
	// SettingCacheEnabled ("true" by default): "false" builds with NoCache.
	SettingCacheEnabled = "buildpack_cache_enabled"
	// SettingCacheTTLHours: build images older than this are removed (0: no age bound).
	SettingCacheTTLHours = "buildpack_cache_ttl_hours"
	// SettingCacheMaxSizeMB: beyond this, the oldest build images are removed (0: no size bound).
	SettingCacheMaxSizeMB = "buildpack_cache_max_size_mb"

	DefaultCacheTTLHours  = 168
	DefaultCacheMaxSizeMB = 10240
	// CacheSchedule is the robfig/cron schedule of the leader's sweep.
	CacheSchedule = "@every 6h"
)

// labelCommit marks the images the runner built.
const labelCommit = "paas.build.commit"

// Reason says why the pruner removes an image.
type Reason string

const (
	// ReasonExpired: the image is older than the TTL.
	ReasonExpired Reason = "expired"
	// ReasonOverSize: the cache was over its size bound; the oldest go first.
	ReasonOverSize Reason = "over_size"
	// ReasonRequested: DELETE …/build-cache asked for every image of the app.
	ReasonRequested Reason = "requested"
)

// CachedImage is one local build image as the plan sees it.
type CachedImage struct {
	// ID is the engine's image id.
	ID string
	// Tags are the image's build tags (repo:b<N>) the pruner manages.
	Tags []string
	// Created is when the builder made it.
	Created time.Time
	// Size is its size as the engine reports it (shared layers included).
	Size int64
	// InUse: a service (or its rollback spec) or a container uses it; never removed.
	InUse bool
}

// Removal is one image the plan removes, and why.
type Removal struct {
	Image  CachedImage
	Reason Reason
}

// plan decides which build images to remove: those older than ttl, then,
// while the images' total size is over maxBytes, the oldest remaining
// ones. An image in use is never removed (it still counts in the size).
// ttl <= 0 or maxBytes <= 0 disables that bound. Pure: now is given.
func plan(images []CachedImage, now time.Time, ttl time.Duration, maxBytes int64) []Removal {
	sorted := slices.Clone(images)
	slices.SortStableFunc(sorted, func(a, b CachedImage) int {
		return cmp.Or(a.Created.Compare(b.Created), cmp.Compare(a.ID, b.ID))
	})
	var out []Removal
	var total int64
	for _, im := range sorted {
		total += im.Size
	}
	kept := sorted[:0:0]
	for _, im := range sorted {
		if ttl > 0 && !im.InUse && !im.Created.After(now.Add(-ttl)) {
			out = append(out, Removal{Image: im, Reason: ReasonExpired})
			total -= im.Size
			continue
		}
		kept = append(kept, im)
	}
	if maxBytes > 0 {
		for _, im := range kept {
			if total <= maxBytes {
				break
			}
			if im.InUse {
				continue
			}
			out = append(out, Removal{Image: im, Reason: ReasonOverSize})
			total -= im.Size
		}
	}
	return out
}

// planAll removes every image not in use, oldest first (DELETE …/build-cache).
func planAll(images []CachedImage) []Removal {
	sorted := slices.Clone(images)
	slices.SortStableFunc(sorted, func(a, b CachedImage) int {
		return cmp.Or(a.Created.Compare(b.Created), cmp.Compare(a.ID, b.ID))
	})
	var out []Removal
	for _, im := range sorted {
		if !im.InUse {
			out = append(out, Removal{Image: im, Reason: ReasonRequested})
		}
	}
	return out
}

// CacheDocker is the part of the engine API the pruner calls; *client.Client satisfies it.
type CacheDocker interface {
	ImageList(ctx context.Context, opts image.ListOptions) ([]image.Summary, error)
	ImageRemove(ctx context.Context, ref string, opts image.RemoveOptions) ([]image.DeleteResponse, error)
	ServiceList(ctx context.Context, opts swarm.ServiceListOptions) ([]swarm.Service, error)
	ContainerList(ctx context.Context, opts container.ListOptions) ([]container.Summary, error)
	BuildCachePrune(ctx context.Context, opts buildtypes.CachePruneOptions) (*buildtypes.CachePruneReport, error)
}

// Pruner removes local build images and prunes the engine's build cache.
type Pruner struct {
	Store  *store.Store
	Docker CacheDocker
	// Registry overrides the registry_url setting when set.
	Registry string
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// CacheReport says what a prune did. Problems (an image in use by a
// stopped container, a failed BuildKit prune) are reported, never errors.
type CacheReport struct {
	// Removed are the images whose tags were removed, with why.
	Removed []Removal
	// Bytes is the size of the removed images the engine deleted
	// (an image still tagged elsewhere frees nothing).
	Bytes int64
	// KeptInUse are the tags kept because a service or container uses them.
	KeptInUse []string
	// BuildCacheBytes is what the engine's BuildKit cache prune reclaimed.
	BuildCacheBytes int64
	// Problems are the errors met on the way, one sentence each.
	Problems []string
}

func (p *Pruner) now() time.Time {
	if p.Now != nil {
		return p.Now()
	}
	return time.Now()
}

// registry reads the registry build images are tagged under ("" if none).
func (p *Pruner) registry(ctx context.Context) (string, error) {
	reg := p.Registry
	if reg == "" {
		var err error
		if reg, err = store.StringSetting(ctx, p.Store, SettingRegistryURL); err != nil {
			return "", fmt.Errorf("read %s: %w", SettingRegistryURL, err)
		}
	}
	return strings.TrimSuffix(strings.TrimPrefix(strings.TrimPrefix(reg, "http://"), "https://"), "/"), nil
}

// policy reads the TTL and size bound from the settings.
func (p *Pruner) policy(ctx context.Context) (time.Duration, int64, error) {
	hours, err := store.IntSetting(ctx, p.Store, SettingCacheTTLHours, DefaultCacheTTLHours)
	if err != nil {
		return 0, 0, err
	}
	mb, err := store.IntSetting(ctx, p.Store, SettingCacheMaxSizeMB, DefaultCacheMaxSizeMB)
	if err != nil {
		return 0, 0, err
	}
	return time.Duration(hours) * time.Hour, mb << 20, nil
}

// Sweep applies the settings' TTL and size bound to every build image
// under the current registry (apps deleted since included), then prunes
// the engine's BuildKit cache with the same bounds.
func (p *Pruner) Sweep(ctx context.Context) (CacheReport, error) {
	reg, err := p.registry(ctx)
	if err != nil || reg == "" {
		return CacheReport{}, err // no registry: nothing was built
	}
	ttl, maxBytes, err := p.policy(ctx)
	if err != nil {
		return CacheReport{}, err
	}
	match := regexp.MustCompile(`^` + regexp.QuoteMeta(reg) + `/[^/]+/[^/:]+:b[0-9]+$`)
	images, err := p.images(ctx, match)
	if err != nil {
		return CacheReport{}, err
	}
	rep := p.apply(ctx, images, plan(images, p.now(), ttl, maxBytes))
	p.pruneBuildKit(ctx, ttl, maxBytes, &rep)
	return rep, nil
}

// ClearApp removes every local build image of one app that nothing uses,
// then prunes the engine's BuildKit cache with the settings' bounds (it
// is not kept per app).
func (p *Pruner) ClearApp(ctx context.Context, app uuid.UUID) (CacheReport, error) {
	reg, err := p.registry(ctx)
	if err != nil || reg == "" {
		return CacheReport{}, err
	}
	t, err := p.Store.GetBuildTarget(ctx, app)
	if err != nil {
		return CacheReport{}, fmt.Errorf("read app: %w", err)
	}
	ttl, maxBytes, err := p.policy(ctx)
	if err != nil {
		return CacheReport{}, err
	}
	repo := fmt.Sprintf("%s/%s/%s", reg, strings.ToLower(t.OrgSlug), strings.ToLower(t.AppName))
	images, err := p.images(ctx, regexp.MustCompile(`^`+regexp.QuoteMeta(repo)+`:b[0-9]+$`))
	if err != nil {
		return CacheReport{}, err
	}
	rep := p.apply(ctx, images, planAll(images))
	p.pruneBuildKit(ctx, ttl, maxBytes, &rep)
	return rep, nil
}

// images lists the runner's images with a tag match accepts, marking
// those a service (current or rollback spec) or a container uses.
func (p *Pruner) images(ctx context.Context, match *regexp.Regexp) ([]CachedImage, error) {
	list, err := p.Docker.ImageList(ctx, image.ListOptions{Filters: filters.NewArgs(filters.Arg("label", labelCommit))})
	if err != nil {
		return nil, fmt.Errorf("list images: %w", err)
	}
	used, usedIDs, err := p.inUse(ctx)
	if err != nil {
		return nil, err
	}
	var out []CachedImage
	for _, s := range list {
		var tags []string
		for _, t := range s.RepoTags {
			if match.MatchString(t) {
				tags = append(tags, t)
			}
		}
		if len(tags) == 0 {
			continue
		}
		im := CachedImage{ID: s.ID, Tags: tags, Created: time.Unix(s.Created, 0), Size: s.Size, InUse: usedIDs[s.ID]}
		for _, ref := range append(slices.Clone(s.RepoTags), s.RepoDigests...) {
			im.InUse = im.InUse || used[ref]
		}
		out = append(out, im)
	}
	return out, nil
}

// inUse returns the image references services name (in both the name:tag
// and the name@digest forms) and the image ids of the engine's containers.
func (p *Pruner) inUse(ctx context.Context) (map[string]bool, map[string]bool, error) {
	refs, ids := map[string]bool{}, map[string]bool{}
	svcs, err := p.Docker.ServiceList(ctx, swarm.ServiceListOptions{})
	if err != nil {
		return nil, nil, fmt.Errorf("list services: %w", err)
	}
	for _, s := range svcs {
		for _, spec := range []*swarm.ServiceSpec{&s.Spec, s.PreviousSpec} {
			if spec == nil || spec.TaskTemplate.ContainerSpec == nil {
				continue
			}
			for _, r := range refForms(spec.TaskTemplate.ContainerSpec.Image) {
				refs[r] = true
			}
		}
	}
	cs, err := p.Docker.ContainerList(ctx, container.ListOptions{All: true})
	if err != nil {
		return nil, nil, fmt.Errorf("list containers: %w", err)
	}
	for _, c := range cs {
		ids[c.ImageID] = true
		for _, r := range refForms(c.Image) {
			refs[r] = true
		}
	}
	return refs, ids, nil
}

// refForms splits "name:tag@digest" into "name:tag" and "name@digest";
// other forms come back as they are.
func refForms(ref string) []string {
	name, digest, ok := strings.Cut(ref, "@")
	if !ok {
		return []string{ref}
	}
	out := []string{ref}
	repo := name
	if i := strings.LastIndex(name, ":"); i > strings.LastIndex(name, "/") {
		repo = name[:i]
		out = append(out, name)
	}
	return append(out, repo+"@"+digest)
}

// apply removes the planned images' build tags; the last one deletes the
// image and its untagged parents (the classic builder's cache layers).
func (p *Pruner) apply(ctx context.Context, images []CachedImage, removals []Removal) CacheReport {
	var rep CacheReport
	removing := map[string]bool{}
	for _, r := range removals {
		removing[r.Image.ID] = true
	}
	for _, im := range images {
		if im.InUse && !removing[im.ID] {
			rep.KeptInUse = append(rep.KeptInUse, im.Tags...)
		}
	}
	for _, r := range removals {
		deleted, failed := false, false
		for _, tag := range r.Image.Tags {
			resp, err := p.Docker.ImageRemove(ctx, tag, image.RemoveOptions{PruneChildren: true})
			if err != nil {
				failed = true
				rep.Problems = append(rep.Problems, fmt.Sprintf("remove %s: %v", tag, err))
				continue
			}
			for _, d := range resp {
				deleted = deleted || d.Deleted == r.Image.ID
			}
		}
		if failed {
			continue
		}
		rep.Removed = append(rep.Removed, r)
		if deleted {
			rep.Bytes += r.Image.Size
		}
	}
	return rep
}

// pruneBuildKit prunes the engine's BuildKit cache: entries unused for
// ttl, then down to maxBytes.
func (p *Pruner) pruneBuildKit(ctx context.Context, ttl time.Duration, maxBytes int64, rep *CacheReport) {
	opts := buildtypes.CachePruneOptions{KeepStorage: maxBytes, Filters: filters.NewArgs()}
	if ttl > 0 {
		opts.Filters.Add("until", ttl.String())
	}
	res, err := p.Docker.BuildCachePrune(ctx, opts)
	if err != nil {
		rep.Problems = append(rep.Problems, fmt.Sprintf("prune the engine's build cache: %v", err))
		return
	}
	rep.BuildCacheBytes = int64(res.SpaceReclaimed)
}

// Log writes a report's removals and problems (problems as warnings).
func (r CacheReport) Log(log *zerolog.Logger, what string) {
	for _, rm := range r.Removed {
		log.Info().Strs("tags", rm.Image.Tags).Str("reason", string(rm.Reason)).Int64("bytes", rm.Image.Size).Msg(what + ": removed build image")
	}
	for _, pr := range r.Problems {
		log.Warn().Str("problem", pr).Msg(what + ": build cache problem (builds are not affected)")
	}
	if len(r.Removed) > 0 || r.BuildCacheBytes > 0 {
		log.Info().Int("images", len(r.Removed)).Int64("bytes", r.Bytes).Int64("build_cache_bytes", r.BuildCacheBytes).
			Strs("kept_in_use", r.KeptInUse).Msg(what + ": build cache pruned")
	}
}

// CacheEnabled reads a buildpack_cache_enabled value: only an explicit no
// ("false", "0", "no", "off") turns the cache off, so a typo never fails a
// build.
func CacheEnabled(v string) bool {
	switch strings.ToLower(v) {
	case "false", "0", "no", "off":
		return false
	}
	return true
}
