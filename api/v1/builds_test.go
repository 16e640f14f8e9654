package v1_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/skypanel/paas/api/openapi"
	"github.com/skypanel/paas/api/problem"
)

func sign(secret, body string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(body))
	return hex.EncodeToString(m.Sum(nil))
}

// TestGitPushWebhookSignatures: a push webhook with a wrong or missing
// signature answers 401 and queues nothing; a push to another ref answers
// 202 and queues nothing; a signed push to the app's ref queues a build of
// its commit; GitHub and Gitea header styles both verify.
func TestGitPushWebhookSignatures(t *testing.T) {
	f := setup(t)
	a := f.createApp(f.alice.token, "hooked", map[string]any{"image": "paas-testapp:v1"})
	var src openapi.AppSourceAnswer
	f.do(f.alice.token, http.MethodPut, "/api/paas/apps/hooked/source",
		map[string]any{"git": map[string]any{"url": "https://git.example.com/acme/hooked.git", "ref": "main"}}).want(200).decode(&src)
	if src.WebhookSecret == nil || len(*src.WebhookSecret) < 32 || src.Git.Ref != "main" || src.Builder != "dockerfile" {
		t.Fatalf("source answer %+v", src)
	}
	// The secret is shown once.
	var again openapi.AppSourceAnswer
	f.do(f.alice.token, http.MethodPut, "/api/paas/apps/hooked/source",
		map[string]any{"git": map[string]any{"url": "https://git.example.com/acme/hooked.git", "ref": "main"}}).want(200).decode(&again)
	if again.WebhookSecret != nil {
		t.Fatal("the webhook secret was shown twice")
	}
	secret := *src.WebhookSecret
	hook := fmt.Sprintf("/api/paas/hooks/git/%s", a.Id)
	sha := "0123456789abcdef0123456789abcdef01234567"
	push := func(ref string) string { return fmt.Sprintf(`{"ref":%q,"after":%q}`, ref, sha) }
	builds := func() int {
		var n int
		if err := f.s.Pool.QueryRow(context.Background(), `SELECT count(*) FROM paas_builds WHERE app_id = $1`, a.Id).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	body := push("refs/heads/main")

	f.do("", http.MethodPost, hook, raw{contentType: "application/json", body: body}).problem(http.StatusUnauthorized, problem.TypeUnauthorized)
	f.do("", http.MethodPost, hook, raw{contentType: "application/json", body: body},
		"X-Hub-Signature-256", "sha256="+sign("wrong", body)).problem(http.StatusUnauthorized, problem.TypeUnauthorized)
	f.do("", http.MethodPost, hook, raw{contentType: "application/json", body: body},
		"X-Hub-Signature-256", "sha256=nothex").problem(http.StatusUnauthorized, problem.TypeUnauthorized)
	// A signature of another body does not verify this one.
	f.do("", http.MethodPost, hook, raw{contentType: "application/json", body: body},
		"X-Hub-Signature-256", "sha256="+sign(secret, push("refs/heads/other"))).problem(http.StatusUnauthorized, problem.TypeUnauthorized)
	if n := builds(); n != 0 {
		t.Fatalf("%d builds queued by unsigned or badly signed pushes", n)
	}

	// A push to another ref: 202, nothing built.
	other := push("refs/heads/feature")
	var ack openapi.GitWebhookAck
	f.do("", http.MethodPost, hook, raw{contentType: "application/json", body: other},
		"X-Hub-Signature-256", "sha256="+sign(secret, other)).want(http.StatusAccepted).decode(&ack)
	if ack.Queued || builds() != 0 {
		t.Fatalf("push to another ref: %+v, %d builds", ack, builds())
	}

	// A signed push to main queues a build of its commit (GitHub style) ...
	f.do("", http.MethodPost, hook, raw{contentType: "application/json", body: body},
		"X-Hub-Signature-256", "sha256="+sign(secret, body)).want(http.StatusAccepted).decode(&ack)
	if !ack.Queued || ack.Build == nil || *ack.Build != 1 {
		t.Fatalf("signed push: %+v", ack)
	}
	var b openapi.Build
	f.do(f.alice.token, http.MethodGet, "/api/paas/apps/hooked/builds/1", nil).want(200).decode(&b)
	if b.Ref != sha || b.Status != "queued" || b.Trigger != "webhook" {
		t.Fatalf("build 1 = %+v", b)
	}
	// ... and Gitea style; the newer build supersedes the queued older one.
	f.do("", http.MethodPost, hook, raw{contentType: "application/json", body: body},
		"X-Gitea-Signature", sign(secret, body)).want(http.StatusAccepted).decode(&ack)
	if !ack.Queued || *ack.Build != 2 {
		t.Fatalf("gitea-style push: %+v", ack)
	}
	f.do(f.alice.token, http.MethodGet, "/api/paas/apps/hooked/builds/1", nil).want(200).decode(&b)
	if b.Status != "superseded" {
		t.Fatalf("build 1 after build 2 was queued: %s", b.Status)
	}
	// GitLab style: the secret itself in X-Gitlab-Token. A wrong, empty or
	// partial token is refused and queues nothing; so is an HMAC of the
	// body sent as a GitLab token.
	for _, tok := range []string{"wrong", "", secret[:len(secret)-1], secret + "x", sign(secret, body)} {
		f.do("", http.MethodPost, hook, raw{contentType: "application/json", body: body},
			"X-Gitlab-Token", tok).problem(http.StatusUnauthorized, problem.TypeUnauthorized)
	}
	if n := builds(); n != 2 {
		t.Fatalf("%d builds after refused GitLab pushes, want 2", n)
	}
	f.do("", http.MethodPost, hook, raw{contentType: "application/json", body: body},
		"X-Gitlab-Token", secret).want(http.StatusAccepted).decode(&ack)
	if !ack.Queued || *ack.Build != 3 {
		t.Fatalf("gitlab-style push: %+v", ack)
	}
	f.do(f.alice.token, http.MethodGet, "/api/paas/apps/hooked/builds/3", nil).want(200).decode(&b)
	if b.Ref != sha || b.Status != "queued" || b.Trigger != "webhook" {
		t.Fatalf("build 3 = %+v", b)
	}

	// Cancel of a queued build; an explicit build request; logs as text.
	f.do(f.alice.token, http.MethodPost, "/api/paas/apps/hooked/builds/3/cancel", nil).want(http.StatusAccepted).decode(&b)
	if b.Status != "cancelled" {
		t.Fatalf("cancelled queued build: %s", b.Status)
	}
	f.do(f.alice.token, http.MethodPost, "/api/paas/apps/hooked/builds", map[string]any{"ref": "v1.0"}).want(http.StatusAccepted).decode(&b)
	if b.Number != 4 || b.Ref != "v1.0" || b.Trigger != "api" {
		t.Fatalf("requested build %+v", b)
	}
	f.do(f.alice.token, http.MethodGet, "/api/paas/apps/hooked/builds/4/logs", nil).want(200)
	f.do(f.alice.token, http.MethodGet, "/api/paas/apps/hooked/builds/9", nil).problem(http.StatusNotFound, problem.TypeNotFound)
	// Another organization's member sees none of it.
	f.do(f.bob.token, http.MethodGet, "/api/paas/apps/hooked/builds/4", nil).want(http.StatusNotFound)

	// Validation: builder auto and a dockerfile are exclusive; a bad URL.
	f.do(f.alice.token, http.MethodPut, "/api/paas/apps/hooked/source",
		map[string]any{"git": map[string]any{"url": "ftp://x"}, "builder": "auto", "dockerfile": "D"}).problem(http.StatusUnprocessableEntity, problem.TypeValidation)

	// A token inside the URL would be stored and shown: refused. file://
	// reads the manager's disk: refused until an administrator allows it.
	before := f.state()
	for url, want := range map[string]string{
		"https://alice:ghp_s3cret@git.example.com/acme/hooked.git": "must not hold a password",
		"file:///srv/git/hooked.git":                               "build_allow_file_urls",
	} {
		p := f.do(f.alice.token, http.MethodPut, "/api/paas/apps/hooked/source",
			map[string]any{"git": map[string]any{"url": url}}).problem(http.StatusUnprocessableEntity, problem.TypeValidation)
		if len(p.Errors) != 1 || p.Errors[0].Field != "git.url" || !strings.Contains(p.Errors[0].Message, want) {
			t.Fatalf("source %s: %+v, want git.url: …%s…", url, p.Errors, want)
		}
	}
	if after := f.state(); after != before {
		t.Fatalf("a refused source changed stored state:\n%s\n%s", before, after)
	}
	f.do(f.admin.token, http.MethodPut, "/api/admin/paas/settings", map[string]any{"settings": []map[string]any{
		{"key": "build_allow_file_urls", "value": "yes"}}}).problem(http.StatusUnprocessableEntity, problem.TypeValidation)
	f.do(f.admin.token, http.MethodPut, "/api/admin/paas/settings", map[string]any{"settings": []map[string]any{
		{"key": "build_allow_file_urls", "value": "true"}}}).want(http.StatusOK)
	f.do(f.alice.token, http.MethodPut, "/api/paas/apps/hooked/source",
		map[string]any{"git": map[string]any{"url": "file:///srv/git/hooked.git"}}).want(http.StatusOK)

	// The same webhook at the app's own path (by id): verified the same way.
	alias := fmt.Sprintf("/api/paas/apps/%s/hooks/git", a.Id)
	n := builds()
	f.do("", http.MethodPost, alias, raw{contentType: "application/json", body: body},
		"X-Hub-Signature-256", "sha256="+sign("wrong", body)).problem(http.StatusUnauthorized, problem.TypeUnauthorized)
	f.do("", http.MethodPost, "/api/paas/apps/hooked/hooks/git", raw{contentType: "application/json", body: body},
		"X-Hub-Signature-256", "sha256="+sign(secret, body)).want(http.StatusBadRequest)
	if builds() != n {
		t.Fatalf("refused pushes at the app's path queued builds")
	}
	f.do("", http.MethodPost, alias, raw{contentType: "application/json", body: body},
		"X-Hub-Signature-256", "sha256="+sign(secret, body)).want(http.StatusAccepted).decode(&ack)
	if !ack.Queued || builds() != n+1 {
		t.Fatalf("signed push at the app's path: %+v, %d builds (was %d)", ack, builds(), n)
	}
}
