package main

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types"
	"github.com/google/uuid"

	"github.com/skypanel/paas/controllers/swarm/swarmtest"
	"github.com/skypanel/paas/store"
	"github.com/skypanel/paas/store/secret"
	"github.com/skypanel/paas/store/spec"
)

// BenchmarkWebhookToServing: a signed push webhook to a real paasd until
// the service runs the built image (cloned, built, pushed to a real
// registry, released, rolled out). Cold: the first build of an app (no
// build step cached, every layer pushed); warm: a later commit that
// changes one file (the other steps cached, one layer pushed).
func BenchmarkWebhookToServing(b *testing.B) {
	c := newCluster(b, "")
	reg := swarmtest.StartRegistry(b)
	v := reg
	if err := c.store.PutSetting(c.ctx, store.PutSettingParams{Key: "registry_url", Value: &v}); err != nil {
		b.Fatal(err)
	}
	allow := "true" // the bench's repositories are file:// URLs
	if err := c.store.PutSetting(c.ctx, store.PutSettingParams{Key: spec.SettingAllowFileGitURLs, Value: &allow}); err != nil {
		b.Fatal(err)
	}
	p := c.start("paasd")
	const hookSecret = "bench-secret"
	var cold, warm []time.Duration
	b.ResetTimer()
	for i := range 2 {
		repo := swarmtest.NewGitRepo(b)
		repo.Commit("init", map[string]string{
			// A step unique to the app: its first build finds nothing cached.
			"Dockerfile": fmt.Sprintf("FROM paas-testapp:v1\nENV BENCH_APP=%s ECHO_ENV=MARKER\nCOPY marker.txt /marker.txt\n", uuid.NewString()),
			"marker.txt": "0\n",
		})
		a := c.createApp(fmt.Sprintf("b%d%s", i, strings.ReplaceAll(uuid.NewString()[:6], "-", "")), "paas-testapp:v1", 1)
		sealed, err := c.box.Seal([]byte(hookSecret), secret.WebhookAD(a.ID))
		if err != nil {
			b.Fatal(err)
		}
		if _, err := c.store.UpsertAppSource(c.ctx, store.UpsertAppSourceParams{AppID: a.ID, GitUrl: repo.URL(), GitRef: "master",
			Dockerfile: "Dockerfile", Builder: "dockerfile", WebhookSecretEncrypted: sealed}); err != nil {
			b.Fatal(err)
		}
		swarmtest.Eventually(b, 120*time.Second, "app converged on its image", func() bool { return c.converged(a.ID, 1, 1) })
		for round := range 3 {
			sha := repo.Commit(fmt.Sprintf("r%d", round), map[string]string{"marker.txt": fmt.Sprintf("%d\n", round+1)})
			start := time.Now()
			number := c.pushHook(p.addr, a.ID, hookSecret, sha)
			c.waitServingBuild(a.ID, number)
			if round == 0 {
				cold = append(cold, time.Since(start))
			} else {
				warm = append(warm, time.Since(start))
			}
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(percentile(cold, 0.5).Milliseconds()), "cold-p50-ms")
	b.ReportMetric(float64(percentile(warm, 0.5).Milliseconds()), "warm-p50-ms")
	b.ReportMetric(float64(percentile(cold, 0.5))/float64(percentile(warm, 0.5)), "cold/warm")
}

func (c *cluster) pushHook(addr string, app uuid.UUID, key, sha string) int32 {
	tb := c.t
	tb.Helper()
	payload := fmt.Sprintf(`{"ref":"refs/heads/master","after":%q}`, sha)
	mac := hmac.New(sha256.New, []byte(key))
	mac.Write([]byte(payload))
	req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/api/paas/hooks/git/"+app.String(), strings.NewReader(payload))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Hub-Signature-256", "sha256="+hex.EncodeToString(mac.Sum(nil)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		tb.Fatalf("webhook answered %d", resp.StatusCode)
	}
	var n int32
	swarmtest.Eventually(tb, 10*time.Second, "build queued", func() bool {
		bs, err := c.store.ListBuilds(c.ctx, store.ListBuildsParams{AppID: app, Limit: 1})
		if err == nil && len(bs) == 1 && bs[0].Ref == sha {
			n = bs[0].Number
			return true
		}
		return false
	})
	return n
}

// waitServingBuild waits until build number succeeded and the service runs
// its image with every task up.
func (c *cluster) waitServingBuild(app uuid.UUID, number int32) {
	c.t.Helper()
	swarmtest.Eventually(c.t, 180*time.Second, fmt.Sprintf("build %d serving", number), func() bool {
		bd, err := c.store.GetBuildByNumber(c.ctx, store.GetBuildByNumberParams{AppID: app, Number: number})
		if err != nil || bd.Status == "build_failed" || bd.Status == "cancelled" {
			if err == nil {
				c.t.Fatalf("build %d %s: %s\n%s", number, bd.Status, bd.Message, bd.Log)
			}
			return false
		}
		if bd.Status != "succeeded" {
			return false
		}
		d, err := c.store.GetDeploymentByGeneration(c.ctx, store.GetDeploymentByGenerationParams{AppID: app, Generation: *bd.Generation})
		if err != nil || d.Status != "deployed" {
			return false
		}
		a, err := c.store.GetApp(c.ctx, app)
		if err != nil {
			return false
		}
		svc, _, err := c.docker.ServiceInspectWithRaw(c.ctx, a.ServiceName, types.ServiceInspectOptions{})
		return err == nil && strings.HasSuffix(svc.Spec.TaskTemplate.ContainerSpec.Image, *bd.ImageDigest)
	})
}
