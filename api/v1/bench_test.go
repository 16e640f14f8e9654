package v1_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"testing"

	v1 "github.com/skypanel/paas/api/v1"
	"github.com/skypanel/paas/store"
)

// seedBenchApps gives Alice's organization n apps with two env variables
// each and a domain on every fifth, as a realistic list to serve.
func seedBenchApps(tb testing.TB, f *fixture, n int) {
	tb.Helper()
	f.setSetting("max_apps_per_org", "0")
	f.setSetting("max_deployments_per_hour", "0")
	ctx := context.Background()
	for i := 0; i < n; i++ {
		a := f.createApp(f.alice.token, fmt.Sprintf("app-%02d", i), map[string]any{"image": "paas-testapp:v1", "plan": "standard",
			"env": map[string]any{"DATABASE_URL": "postgres://app@db/app", "LOG_LEVEL": "info"}, "health_check": map[string]any{"path": "/health"}})
		if i%5 == 0 {
			if _, err := f.s.CreateDomain(ctx, store.CreateDomainParams{AppID: a.Id, Hostname: fmt.Sprintf("app-%02d.example.com", i)}); err != nil {
				tb.Fatal(err)
			}
		}
	}
}

// BenchmarkListApps measures GET /api/paas/apps with 50 apps over HTTP,
// authenticated with a login token, from parallel clients: as paasd serves
// it (answers cached while change notifications say nothing changed), and
// as a server without those caches would (every request authenticates and
// renders from Postgres). Compare the two ns/op for the ratio.
func BenchmarkListApps(b *testing.B) {
	b.Run("paasd", func(b *testing.B) { benchmarkListApps(b, setup(b)) })
	b.Run("uncached", func(b *testing.B) {
		benchmarkListApps(b, setupUnfollowed(b, func(d *v1.Deps) { d.ListCachePages = -1 }))
	})
}

func benchmarkListApps(b *testing.B, f *fixture) {
	seedBenchApps(b, f, 50)
	req := func() *http.Request {
		r, _ := http.NewRequest("GET", f.srv.URL+"/api/paas/apps", nil)
		r.Header.Set("Authorization", "Bearer "+f.alice.token)
		return r
	}
	// One check that the answer is the whole list.
	if l := f.do(f.alice.token, "GET", "/api/paas/apps", nil).want(200); len(l.Body) < 50*500 {
		b.Fatalf("answer of %d bytes", len(l.Body))
	}
	tr := &http.Transport{MaxIdleConnsPerHost: 64}
	c := &http.Client{Transport: tr}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			resp, err := c.Do(req())
			if err != nil {
				b.Fatal(err)
			}
			n, _ := io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || n == 0 {
				b.Fatalf("status %d", resp.StatusCode)
			}
		}
	})
}
