package v1

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/skypanel/paas/api/openapi"
	"github.com/skypanel/paas/api/problem"
	"github.com/skypanel/paas/store"
	"github.com/skypanel/paas/store/secret"
	"github.com/skypanel/paas/store/spec"
)

type sourceRequest struct {
	Git *struct {
		URL  string `json:"url"`
		Ref  string `json:"ref"`
		Path string `json:"path"`
	} `json:"git"`
	Dockerfile string `json:"dockerfile"`
	Builder    string `json:"builder"`
}

// checkSource validates a source and fills in its defaults (ref main,
// Dockerfile); field paths start with prefix. allowFile is the
// build_allow_file_urls setting.
func checkSource(prefix string, req *sourceRequest, allowFile bool) []problem.FieldError {
	var errs []problem.FieldError
	if req.Git == nil || req.Git.URL == "" {
		errs = append(errs, fe(prefix+"git.url", "is required"))
	} else if err := spec.CheckGitURL(req.Git.URL, allowFile); err != nil {
		errs = append(errs, fe(prefix+"git.url", err.Error()))
	}
	switch req.Builder {
	case "", "dockerfile":
		req.Builder = "dockerfile"
	case "auto":
		if req.Dockerfile != "" {
			errs = append(errs, fe(prefix+"dockerfile", "is exclusive with builder: auto"))
		}
	default:
		errs = append(errs, fe(prefix+"builder", "must be dockerfile or auto"))
	}
	if req.Git != nil && strings.Contains(req.Git.Path, "..") {
		errs = append(errs, fe(prefix+"git.path", "must stay inside the repository"))
	}
	if strings.Contains(req.Dockerfile, "..") {
		errs = append(errs, fe(prefix+"dockerfile", "must stay inside the build context"))
	}
	if len(errs) > 0 {
		return errs
	}
	if req.Git.Ref == "" {
		req.Git.Ref = "main"
	}
	if req.Dockerfile == "" {
		req.Dockerfile = "Dockerfile"
	}
	return nil
}

// allowFileGitURLs reads the build_allow_file_urls setting.
func allowFileGitURLs(ctx context.Context, q store.SettingGetter) (bool, error) {
	v, err := store.StringSetting(ctx, q, spec.SettingAllowFileGitURLs)
	return v == "true", err
}

// newWebhookSecret makes an app's push-webhook secret: the text to show
// once, and its sealed form to store.
func (s *server) newWebhookSecret(app uuid.UUID) (plain string, sealed []byte, err error) {
	raw := make([]byte, 24)
	if _, err := rand.Read(raw); err != nil {
		return "", nil, err
	}
	plain = hex.EncodeToString(raw)
	sealed, err = s.Box.Seal([]byte(plain), secret.WebhookAD(app))
	return plain, sealed, err
}

// SetAppSource sets the git source an app is built from.
func (s *server) SetAppSource(c echo.Context, ident openapi.AppPath, _ openapi.SetAppSourceParams) error {
	var req sourceRequest
	if err := readJSON(c, &req); err != nil {
		return err
	}
	ctx := c.Request().Context()
	allowFile, err := allowFileGitURLs(ctx, s.Store)
	if err != nil {
		return err
	}
	if errs := checkSource("", &req, allowFile); len(errs) > 0 {
		return problem.Invalid(errs...)
	}
	app, err := s.findApp(c, ident)
	if err != nil {
		return err
	}
	var sealed []byte
	var shown *string
	// A source without a webhook secret yet (new, or made with the app)
	// gets one, answered this once.
	if cur, err := s.Store.GetAppSource(ctx, app.ID); store.IsNotFound(err) || err == nil && cur.WebhookSecretEncrypted == nil {
		plain, seal, err := s.newWebhookSecret(app.ID)
		if err != nil {
			return err
		}
		sealed, shown = seal, &plain
	} else if err != nil {
		return err
	}
	src, err := s.Store.UpsertAppSource(ctx, store.UpsertAppSourceParams{AppID: app.ID, GitUrl: req.Git.URL, GitRef: req.Git.Ref,
		GitPath: req.Git.Path, Dockerfile: req.Dockerfile, Builder: req.Builder, WebhookSecretEncrypted: sealed})
	if err != nil {
		return err
	}
	ans := openapi.AppSourceAnswer{AppId: src.AppID, Dockerfile: src.Dockerfile, Builder: src.Builder, WebhookSecret: shown}
	ans.Git.Url, ans.Git.Ref, ans.Git.Path = src.GitUrl, src.GitRef, src.GitPath
	return c.JSON(http.StatusOK, ans)
}

func renderBuild(b store.PaasBuild) openapi.Build {
	return openapi.Build{Id: b.ID, AppId: b.AppID, Number: b.Number, Ref: b.Ref, Trigger: b.Trigger,
		Status: b.Status, CommitSha: b.CommitSha, Step: b.Step, Steps: b.Steps, Image: b.Image,
		ImageDigest: b.ImageDigest, Generation: b.Generation, Message: b.Message, Attempts: b.Attempts,
		CreatedAt: b.CreatedAt, StartedAt: b.StartedAt, FinishedAt: b.FinishedAt, DurationMs: b.DurationMs}
}

// CreateBuild queues a build of the app's source.
func (s *server) CreateBuild(c echo.Context, ident openapi.AppPath, _ openapi.CreateBuildParams) error {
	var req struct {
		Ref *string `json:"ref"`
	}
	if err := readJSON(c, &req); err != nil {
		return err
	}
	ref := ""
	if req.Ref != nil {
		if errs := checkRef("ref", *req.Ref); len(errs) > 0 {
			return problem.Invalid(errs...)
		}
		ref = *req.Ref
	}
	_, b, err := s.queueBuild(c, ident, ref, "app.build")
	if err != nil {
		return err
	}
	return c.JSON(http.StatusAccepted, renderBuild(b))
}

func (s *server) findBuild(c echo.Context, ident string, number int32) (store.PaasBuild, error) {
	app, err := s.findApp(c, ident)
	if err != nil {
		return store.PaasBuild{}, err
	}
	b, err := s.Store.GetBuildByNumber(c.Request().Context(), store.GetBuildByNumberParams{AppID: app.ID, Number: number})
	if store.IsNotFound(err) {
		return b, problem.NotFound(fmt.Sprintf("build %d of app %q not found", number, app.Name))
	}
	return b, err
}

// GetBuild answers one build.
func (s *server) GetBuild(c echo.Context, ident openapi.AppPath, number openapi.BuildPath, _ openapi.GetBuildParams) error {
	b, err := s.findBuild(c, ident, number)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, renderBuild(b))
}

// GetBuildLogs answers a build's log as text, or follows it as SSE when
// the request accepts text/event-stream (buildlogs.go).
func (s *server) GetBuildLogs(c echo.Context, ident openapi.AppPath, number openapi.BuildPath, params openapi.GetBuildLogsParams) error {
	b, err := s.findBuild(c, ident, number)
	if err != nil {
		return err
	}
	if wantsEventStream(c) {
		return s.followBuildLog(c, b, params.LastEventID)
	}
	return c.String(http.StatusOK, b.Log)
}

// CancelBuild cancels a queued build or asks its runner to stop a running one.
func (s *server) CancelBuild(c echo.Context, ident openapi.AppPath, number openapi.BuildPath, _ openapi.CancelBuildParams) error {
	b, err := s.findBuild(c, ident, number)
	if err != nil {
		return err
	}
	return s.cancelBuildRow(c, b)
}

// GitPushWebhook verifies a push webhook's HMAC-SHA256 signature (GitHub,
// Gitea) or its secret token (GitLab) and queues a build when the pushed
// ref is the app's.
func (s *server) GitPushWebhook(c echo.Context, appID uuid.UUID, params openapi.GitPushWebhookParams) error {
	ctx := c.Request().Context()
	body, err := readBody(c)
	if err != nil {
		return err
	}
	unauthorized := problem.Unauthorized("the webhook signature does not verify")
	src, err := s.Store.GetAppSource(ctx, appID)
	if err != nil || src.WebhookSecretEncrypted == nil {
		return unauthorized // an unknown app looks like a bad signature
	}
	key, err := s.Box.Open(src.WebhookSecretEncrypted, secret.WebhookAD(appID))
	if err != nil {
		return unauthorized
	}
	switch {
	case params.XHubSignature256 != nil || params.XGiteaSignature != nil:
		sig := ""
		if params.XHubSignature256 != nil {
			sig = strings.TrimPrefix(*params.XHubSignature256, "sha256=")
		} else {
			sig = *params.XGiteaSignature
		}
		got, err := hex.DecodeString(sig)
		mac := hmac.New(sha256.New, key)
		mac.Write(body)
		if sig == "" || err != nil || !hmac.Equal(got, mac.Sum(nil)) {
			return unauthorized
		}
	case params.XGitlabToken != nil:
		// GitLab signs nothing: it sends the secret itself. Compared in
		// constant time, over digests so that not even the secret's
		// length shows in the time taken.
		got, want := sha256.Sum256([]byte(*params.XGitlabToken)), sha256.Sum256(key)
		if subtle.ConstantTimeCompare(got[:], want[:]) != 1 {
			return unauthorized
		}
	default:
		return unauthorized
	}
	var push struct {
		Ref   string `json:"ref"`
		After string `json:"after"`
	}
	if err := json.Unmarshal(body, &push); err != nil {
		return problem.Malformed("the body is not a JSON push event")
	}
	reason := ""
	switch {
	case push.Ref == "":
		reason = "not a push event"
	case push.Ref != "refs/heads/"+src.GitRef && push.Ref != src.GitRef && push.Ref != "refs/tags/"+src.GitRef:
		reason = fmt.Sprintf("pushed %s; the app builds %s", push.Ref, src.GitRef)
	case push.After == strings.Repeat("0", 40):
		reason = "the ref was deleted"
	}
	if reason != "" {
		return c.JSON(http.StatusAccepted, openapi.GitWebhookAck{Queued: false, Reason: &reason})
	}
	ref := push.After
	if ref == "" {
		ref = src.GitRef
	}
	b, err := s.queueWebhookBuild(ctx, appID, ref)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusAccepted, openapi.GitWebhookAck{Queued: true, Build: &b.Number})
}

// RotateWebhookSecret replaces the app's push-webhook secret and answers
// the new one, this once.
func (s *server) RotateWebhookSecret(c echo.Context, ident openapi.AppPath, _ openapi.RotateWebhookSecretParams) error {
	ctx := c.Request().Context()
	o, p := org(c), caller(c)
	var plain string
	var appID uuid.UUID
	err := s.Store.InTx(ctx, func(q *store.Queries) error {
		app, err := lockApp(ctx, q, o.ID, ident)
		if err != nil {
			return err
		}
		appID = app.ID
		var sealed []byte
		if plain, sealed, err = s.newWebhookSecret(app.ID); err != nil {
			return err
		}
		n, err := q.SetWebhookSecret(ctx, store.SetWebhookSecretParams{AppID: app.ID, Sealed: sealed})
		if err != nil {
			return err
		}
		if n == 0 {
			return problem.NotFound(fmt.Sprintf("app %q has no source, so no push webhook: PUT /api/paas/apps/%s/source first", app.Name, app.Name))
		}
		return audit(ctx, q, p, "app.webhook_secret.rotate", "app", app.ID.String(), o.ID, nil)
	})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, openapi.WebhookSecret{WebhookSecret: plain, Path: "/api/paas/hooks/git/" + appID.String()})
}

// GitPushWebhookByApp is GitPushWebhook at the app's own path.
func (s *server) GitPushWebhookByApp(c echo.Context, appID uuid.UUID, params openapi.GitPushWebhookByAppParams) error {
	return s.GitPushWebhook(c, appID, openapi.GitPushWebhookParams(params))
}
