// Package build runs source builds: jobs in paas_builds, claimed by the
// leader's Runner, cloned with go-git at an exact commit, built through the
// Docker Engine API from a tar context, pushed to the registry of the
// registry_url setting, and handed to the release path by writing the
// pinned digest reference into the app's image.
package build

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/docker/docker/api/types"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"
	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/skypanel/paas/store"
	"github.com/skypanel/paas/store/secret"
	"github.com/skypanel/paas/store/spec"
)

// Settings read at each build.
const (
	SettingRegistryURL = "registry_url"
	SettingTimeout     = "build_timeout_seconds"
	SettingLogMaxBytes = "build_log_max_bytes"
	// SettingContextMaxMB caps the build context (the checked-out files
	// without .git), in MiB (default DefaultContextMaxMB).
	SettingContextMaxMB = "build_context_max_mb"
	// SettingConcurrency, when positive, overrides Concurrency (read when a
	// leadership term starts).
	SettingConcurrency = "build_concurrency"
)

// Runner claims and runs build jobs. Run it on the leader only.
type Runner struct {
	Store  *store.Store
	Docker *client.Client
	// Concurrency is the number of builds run at once (default 2).
	Concurrency int
	// Timeout bounds one build unless the build_timeout_seconds setting
	// says otherwise (default 15 minutes).
	Timeout time.Duration
	// Lease is how long a claim lasts without renewal (default 30s); a
	// build whose runner died is requeued that long after its last renewal.
	Lease time.Duration
	// MaxAttempts is how often a build whose runner died is tried (default 2).
	MaxAttempts int
	// Poll is how often the queue is looked at without a Wake, and so how
	// soon a build whose runner died is requeued after its lease ran out
	// (default 5s, or Lease when shorter). The Manager wakes the runner on each queued or ended
	// build (channel paas_builds), so polling is only the fallback.
	Poll time.Duration
	// Registry overrides the registry_url setting when set.
	Registry string
	// Wake, when not nil, makes the runner look at the queue at once.
	Wake chan struct{}
	// Durations, when set, observes each finished build's time by outcome
	// (succeeded, build_failed, cancelled).
	Durations *prometheus.HistogramVec
	// Box opens the organizations' git credentials (paas_git_credentials);
	// without it a clone that has one fails.
	Box *secret.Box

	// running maps the id of each build this runner runs to the cancel
	// function of its context; made by Init.
	running *sync.Map
}

// Init readies the runner for Cancel calls from other goroutines: call it
// before starting Run and whatever calls Cancel (Run calls it too, for a
// runner nothing cancels).
func (r *Runner) Init() {
	if r.running == nil {
		r.running = new(sync.Map)
	}
}

// Cancel stops build id if this runner runs it: its cancel was requested
// (the Manager calls it on the paas_builds announcement "cancel/<id>").
func (r *Runner) Cancel(id uuid.UUID) {
	if r.running == nil {
		return
	}
	if c, ok := r.running.Load(id); ok {
		c.(context.CancelCauseFunc)(errCancelled)
	}
}

// NewDurations builds the histogram Runner.Durations expects.
func NewDurations() *prometheus.HistogramVec {
	return prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "paas_build_duration_seconds",
		Help: "Time a build took from its claim to its outcome.", Buckets: prometheus.ExponentialBuckets(1, 2, 12)}, []string{"outcome"})
}

// observe records a finished build's time.
func (r *Runner) observe(outcome string, since time.Time) {
	if r.Durations != nil {
		r.Durations.WithLabelValues(outcome).Observe(time.Since(since).Seconds())
	}
}

func (r *Runner) defaults() {
	if r.Concurrency <= 0 {
		r.Concurrency = 2
	}
	if r.Timeout <= 0 {
		r.Timeout = 15 * time.Minute
	}
	if r.Lease <= 0 {
		r.Lease = 30 * time.Second
	}
	if r.MaxAttempts <= 0 {
		r.MaxAttempts = 2
	}
	if r.Poll <= 0 {
		r.Poll = min(5*time.Second, r.Lease)
	}
}

// Run claims builds until ctx ends, at most Concurrency at a time. Builds
// it runs are abandoned when ctx ends; their leases expire and the next
// leader retries them.
func (r *Runner) Run(ctx context.Context) error {
	if n, err := store.IntSetting(ctx, r.Store, SettingConcurrency, 0); err == nil && n > 0 {
		r.Concurrency = int(n)
	}
	r.defaults()
	r.Init()
	log := zerolog.Ctx(ctx)
	slots := make(chan struct{}, r.Concurrency)
	var wg sync.WaitGroup
	defer wg.Wait()
	tick := time.NewTicker(r.Poll)
	defer tick.Stop()
	for {
		if rec, err := r.Store.RecoverExpiredBuilds(ctx, int32(r.MaxAttempts)); err != nil && ctx.Err() == nil {
			log.Warn().Err(err).Msg("recover expired builds")
		} else {
			for _, b := range rec {
				log.Warn().Str("app", b.AppID.String()).Int32("build", b.Number).Str("status", b.Status).Msg("build runner lost")
			}
		}
	claim:
		for {
			select {
			case slots <- struct{}{}:
			default:
				break claim
			}
			b, err := r.Store.ClaimBuild(ctx, r.Lease.Seconds())
			if err != nil {
				<-slots
				if _, unique := store.IsUniqueViolation(err); !store.IsNotFound(err) && ctx.Err() == nil && !unique {
					log.Warn().Err(err).Msg("claim build")
				}
				break
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() { <-slots }()
				r.run(ctx, b)
			}()
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		case <-r.Wake:
		}
	}
}

// errCancelled marks a build stopped by a cancel request.
var errCancelled = errors.New("cancelled")

// run executes one claimed build and records its outcome.
func (r *Runner) run(parent context.Context, b store.PaasBuild) {
	log := zerolog.Ctx(parent).With().Str("app", b.AppID.String()).Int32("build", b.Number).Logger()
	started := time.Now()
	set, err := r.settings(parent)
	if err != nil {
		// The database is unreachable: the lease runs out and the build is
		// tried again, as after a crash.
		log.Warn().Err(err).Msg("read build settings")
		return
	}
	timeout := set.timeout
	ctx, cancel := context.WithCancelCause(parent)
	defer cancel(nil)
	ctx, stop := context.WithTimeoutCause(ctx, timeout, fmt.Errorf("build timed out after %s", timeout))
	defer stop()

	// Heartbeat: renew the lease, and stop on a cancel request.
	hbDone := make(chan struct{})
	go func() {
		defer close(hbDone)
		t := time.NewTicker(r.Lease / 3)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			stop, err := r.Store.RenewBuildLease(parent, store.RenewBuildLeaseParams{ID: b.ID, LeaseSeconds: r.Lease.Seconds()})
			if err == nil && stop {
				cancel(errCancelled)
				return
			}
			if store.IsNotFound(err) { // no longer ours
				cancel(errors.New("build no longer held by this runner"))
				return
			}
		}
	}()
	// A cancel request is announced (Cancel); the lease renewal above is
	// the fallback when the announcement is missed.
	r.running.Store(b.ID, cancel)
	defer r.running.Delete(b.ID)

	lw := &logWriter{r: r, ctx: parent, id: b.ID, max: set.logMax}
	res, err := r.build(ctx, b, set, lw)
	var cause error // why the build's context ended, when it ended before the build
	if ctx.Err() != nil {
		cause = context.Cause(ctx)
	}
	stop()
	cancel(nil)
	<-hbDone
	if parent.Err() != nil {
		return // shutting down: the lease expires and the build is retried
	}
	if err != nil {
		status, msg := "build_failed", err.Error()
		if cause != nil {
			msg = cause.Error()
			if errors.Is(cause, errCancelled) {
				status = "cancelled"
			}
		}
		lw.line("--- " + status + ": " + msg)
		r.removeTag(parent, res.tag)
		if _, ferr := r.Store.FinishBuild(parent, store.FinishBuildParams{ID: b.ID, Status: status, Message: msg}); ferr != nil {
			log.Warn().Err(ferr).Msg("record build outcome")
		}
		log.Info().Str("status", status).Str("error", msg).Msg("build finished")
		r.observe(status, started)
		return
	}
	gen, err := r.Store.SetAppBuiltImage(parent, store.SetAppBuiltImageParams{ID: b.AppID, Image: res.pinned})
	if err != nil {
		lw.line("--- build_failed: app gone: " + err.Error())
		_, _ = r.Store.FinishBuild(parent, store.FinishBuildParams{ID: b.ID, Status: "build_failed", Message: "app gone"})
		r.observe("build_failed", started)
		return
	}
	lw.line("--- built " + res.pinned + "; releasing at generation " + strconv.FormatInt(gen, 10))
	if _, err := r.Store.FinishBuild(parent, store.FinishBuildParams{ID: b.ID, Status: "succeeded",
		Message: "built " + res.pinned, Image: &res.tag, ImageDigest: &res.digest, Generation: &gen}); err != nil {
		log.Warn().Err(err).Msg("record build outcome")
	}
	log.Info().Str("image", res.pinned).Msg("build succeeded")
	r.observe("succeeded", started)
}

type result struct {
	tag, digest, pinned string
}

func (r *Runner) removeTag(ctx context.Context, tag string) {
	if tag == "" {
		return
	}
	_, _ = r.Docker.ImageRemove(ctx, tag, image.RemoveOptions{PruneChildren: true})
}

// build clones, builds and pushes; res.tag is set as soon as it is known so
// a failed push can untag it.
func (r *Runner) build(ctx context.Context, b store.PaasBuild, set buildSettings, lw *logWriter) (res result, err error) {
	src, err := r.Store.GetAppSource(ctx, b.AppID)
	if err != nil {
		return res, fmt.Errorf("app has no source: %w", err)
	}
	if err := spec.CheckGitURL(src.GitUrl, set.allowFile); err != nil {
		return res, fmt.Errorf("source refused: git.url %w", err)
	}
	target, err := r.Store.GetBuildTarget(ctx, b.AppID)
	if err != nil {
		return res, fmt.Errorf("read app: %w", err)
	}
	registry := cmp.Or(r.Registry, set.registry)
	registry = strings.TrimSuffix(strings.TrimPrefix(strings.TrimPrefix(registry, "http://"), "https://"), "/")
	if registry == "" {
		return res, errors.New("no registry: set registry_url")
	}

	dir, err := os.MkdirTemp("", "paas-build-")
	if err != nil {
		return res, err
	}
	defer os.RemoveAll(dir)
	cred, err := r.gitAuth(ctx, b.AppID, src.GitUrl)
	if err != nil {
		return res, err
	}
	lw.line(fmt.Sprintf("--- cloning %s at %s", redactURL(src.GitUrl), b.Ref))
	sha, err := clone(ctx, src.GitUrl, b.Ref, dir, cred)
	if err != nil {
		return res, err
	}
	lw.line("--- commit " + sha)
	_ = r.Store.SetBuildProgress(ctx, store.SetBuildProgressParams{ID: b.ID, CommitSha: &sha})

	ctxDir := filepath.Join(dir, filepath.Clean("/"+src.GitPath))
	dockerfile := src.Dockerfile
	var generated string
	if src.Builder == "auto" {
		entries, err := os.ReadDir(ctxDir)
		if err != nil {
			return res, fmt.Errorf("read source: %w", err)
		}
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		stack, err := Detect(names)
		if err != nil {
			return res, err
		}
		lw.line("--- detected stack " + string(stack))
		if stack != StackDockerfile {
			if generated, err = Generate(stack, names, set.images); err != nil {
				return res, err
			}
			lw.line("--- base images: " + set.family + " family")
			dockerfile = ".paas.Dockerfile"
			lw.line("--- generated Dockerfile:\n" + generated)
		} else {
			dockerfile = "Dockerfile"
		}
	}
	tarball, err := tarContext(ctxDir, dockerfile, generated, set.contextMax)
	if err != nil {
		return res, err
	}
	defer tarball.Close()

	repo := fmt.Sprintf("%s/%s/%s", registry, strings.ToLower(target.OrgSlug), strings.ToLower(target.AppName))
	tag := fmt.Sprintf("%s:b%d", repo, b.Number)
	steps, err := countSteps(ctxDir, dockerfile, generated)
	if err != nil {
		return res, err
	}
	steps++ // the classic builder adds the LABEL of Labels as a last step
	_ = r.Store.SetBuildProgress(ctx, store.SetBuildProgressParams{ID: b.ID, Step: 0, Steps: int32(steps)})
	noCache := set.noCache
	if noCache {
		lw.line("--- build cache disabled (" + SettingCacheEnabled + ")")
	}
	resp, err := r.Docker.ImageBuild(ctx, tarball, types.ImageBuildOptions{
		Tags: []string{tag}, Dockerfile: dockerfile, Remove: true, ForceRemove: true, NoCache: noCache,
		Version: types.BuilderV1, Labels: map[string]string{labelCommit: sha},
	})
	if err != nil {
		return res, fmt.Errorf("start build: %w", err)
	}
	res.tag = tag
	err = r.stream(ctx, resp.Body, lw, func(m jsonMessage) {
		if n, m2, ok := stepOf(m.Stream); ok {
			_ = r.Store.SetBuildProgress(ctx, store.SetBuildProgressParams{ID: b.ID, Step: int32(n), Steps: int32(m2)})
			lw.line(fmt.Sprintf("--- step %d of %d", n, m2))
		}
	})
	resp.Body.Close()
	if err != nil {
		return res, err
	}

	lw.line("--- pushing " + tag)
	push, err := r.Docker.ImagePush(ctx, tag, image.PushOptions{RegistryAuth: "e30="}) // "{}"
	if err != nil {
		return res, fmt.Errorf("push: %w", err)
	}
	err = r.stream(ctx, push, lw, func(m jsonMessage) {
		if m.Aux != nil {
			var aux struct{ Digest string }
			if json.Unmarshal(*m.Aux, &aux) == nil && aux.Digest != "" {
				res.digest = aux.Digest
			}
		}
	})
	push.Close()
	if err != nil {
		return res, fmt.Errorf("push: %w", err)
	}
	if res.digest == "" {
		return res, errors.New("push reported no digest")
	}
	res.pinned = repo + "@" + res.digest
	return res, nil
}

type jsonMessage struct {
	Stream      string                    `json:"stream"`
	Status      string                    `json:"status"`
	Error       string                    `json:"error"`
	ErrorDetail *struct{ Message string } `json:"errorDetail"`
	Aux         *json.RawMessage          `json:"aux"`
}

// stream copies the engine's JSON messages into the log and returns the
// first error message the engine reported.
func (r *Runner) stream(ctx context.Context, body io.Reader, lw *logWriter, each func(jsonMessage)) error {
	dec := json.NewDecoder(body)
	for {
		var m jsonMessage
		if err := dec.Decode(&m); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			if ctx.Err() != nil {
				return context.Cause(ctx)
			}
			return fmt.Errorf("read engine output: %w", err)
		}
		if m.Error != "" {
			lw.line(m.Error)
			return fmt.Errorf("builder: %s", strings.TrimSpace(m.Error))
		}
		each(m) // first: a progress line goes before the output it announces
		if m.Stream != "" {
			lw.write(m.Stream)
		} else if m.Status != "" && m.Aux == nil {
			lw.line(m.Status)
		}
	}
}

var stepRe = regexp.MustCompile(`^Step (\d+)/(\d+) :`)

func stepOf(s string) (int, int, bool) {
	m := stepRe.FindStringSubmatch(s)
	if m == nil {
		return 0, 0, false
	}
	n, _ := strconv.Atoi(m[1])
	total, _ := strconv.Atoi(m[2])
	return n, total, true
}

// countSteps counts a Dockerfile's instructions (what the classic builder calls steps).
func countSteps(dir, dockerfile, generated string) (int, error) {
	text := generated
	if text == "" {
		b, err := os.ReadFile(filepath.Join(dir, filepath.Clean("/"+dockerfile)))
		if err != nil {
			return 0, fmt.Errorf("read %s: %w", dockerfile, err)
		}
		text = string(b)
	}
	n := 0
	cont := false
	for _, l := range strings.Split(text, "\n") {
		l = strings.TrimSpace(l)
		was := cont
		cont = strings.HasSuffix(l, "\\")
		if l == "" || strings.HasPrefix(l, "#") || was {
			continue
		}
		n++
	}
	return n, nil
}

// clone fetches url, with cred's auth when it has one, and checks out ref
// (a branch, tag or full sha) exactly; it returns the commit sha. Its
// errors name the URL without any password, and hold no token.
func clone(ctx context.Context, url, ref, dir string, cred gitCredential) (string, error) {
	repo, err := git.PlainCloneContext(ctx, dir, false, &git.CloneOptions{URL: url, Tags: git.AllTags, Auth: cred.auth})
	if err != nil {
		return "", cloneError(err, url, cred)
	}
	url = redactURL(url)
	var hash *plumbing.Hash
	for _, rev := range []string{"refs/remotes/origin/" + ref, "refs/tags/" + ref, ref} {
		if h, err := repo.ResolveRevision(plumbing.Revision(rev)); err == nil {
			hash = h
			break
		}
	}
	if hash == nil {
		return "", fmt.Errorf("ref %s not found in %s", ref, url)
	}
	wt, err := repo.Worktree()
	if err != nil {
		return "", err
	}
	if err := wt.Checkout(&git.CheckoutOptions{Hash: *hash, Force: true}); err != nil {
		return "", fmt.Errorf("checkout %s: %w", hash, err)
	}
	return hash.String(), nil
}

// logWriter appends to a build's size-capped log.
type logWriter struct {
	r   *Runner
	ctx context.Context
	id  uuid.UUID
	max int64 // the log's cap, bytes
}

// DefaultLogMaxBytes caps a build's log unless build_log_max_bytes says otherwise.
const DefaultLogMaxBytes = 1 << 20

func (w *logWriter) write(s string) {
	_ = w.r.Store.AppendBuildLog(w.ctx, store.AppendBuildLogParams{ID: w.id, Chunk: s, MaxBytes: int32(w.max)})
}

func (w *logWriter) line(s string) { w.write(s + "\n") }

// Enqueue queues a build of app at ref and supersedes its older queued builds.
func Enqueue(ctx context.Context, s *store.Store, app uuid.UUID, ref, trigger string) (store.PaasBuild, error) {
	return s.QueueBuild(ctx, app, ref, trigger)
}

// buildSettings are the settings one build runs under, read in one query
// when it starts.
type buildSettings struct {
	timeout    time.Duration
	logMax     int64 // bytes
	contextMax int64 // bytes
	allowFile  bool  // file:// sources may be cloned
	registry   string
	noCache    bool
	family     string     // of the auto builder's base images
	images     BaseImages // the family's, with buildpack_image_* overrides
}

var imageSettings = map[string]func(*BaseImages) *string{
	"go": func(b *BaseImages) *string { return &b.Go }, "go_runtime": func(b *BaseImages) *string { return &b.GoRuntime },
	"node": func(b *BaseImages) *string { return &b.Node }, "python": func(b *BaseImages) *string { return &b.Python },
	"ruby": func(b *BaseImages) *string { return &b.Ruby }, "static": func(b *BaseImages) *string { return &b.Static },
}

// settings reads a build's settings. Values that do not parse take their
// defaults: a typo in a setting must not stop builds, and a cache setting
// never fails one.
func (r *Runner) settings(ctx context.Context) (buildSettings, error) {
	keys := []string{SettingTimeout, SettingLogMaxBytes, SettingContextMaxMB, spec.SettingAllowFileGitURLs,
		SettingRegistryURL, SettingCacheEnabled, SettingDefaultStack}
	for name := range imageSettings {
		keys = append(keys, "buildpack_image_"+name)
	}
	all, err := store.ReadSettings(ctx, r.Store, keys...)
	if err != nil {
		return buildSettings{}, err
	}
	set := buildSettings{timeout: r.Timeout, logMax: all.Int(SettingLogMaxBytes, DefaultLogMaxBytes),
		contextMax: all.Int(SettingContextMaxMB, DefaultContextMaxMB) << 20, allowFile: all.String(spec.SettingAllowFileGitURLs) == "true",
		registry: all.String(SettingRegistryURL), noCache: !CacheEnabled(all.String(SettingCacheEnabled))}
	if n := all.Int(SettingTimeout, 0); n > 0 {
		set.timeout = time.Duration(n) * time.Second
	}
	if set.logMax <= 0 {
		set.logMax = DefaultLogMaxBytes
	}
	var ok bool
	set.family = all.String(SettingDefaultStack)
	if set.images, ok = Families[set.family]; !ok {
		set.family, set.images = DefaultFamily, DefaultBaseImages
	}
	for name, field := range imageSettings {
		if v := all.String("buildpack_image_" + name); v != "" {
			*field(&set.images) = v
		}
	}
	return set, nil
}
