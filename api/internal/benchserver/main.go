// Command benchserver serves the v1 API in process on a fresh database
// seeded with one organization of N apps, for hack/bench-api.sh. It prints
// "TOKEN=<login token>" and "READY <url>" on stdout once it answers, then
// serves until SIGINT or SIGTERM and drops its database.
package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"net/http"
	_ "net/http/pprof"
	"net/url"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/rs/zerolog"

	"github.com/skypanel/paas/api"
	v1 "github.com/skypanel/paas/api/v1"
	"github.com/skypanel/paas/store"
	"github.com/skypanel/paas/store/secret"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:18080", "address to serve on")
	apps := flag.Int("apps", 50, "apps to seed")
	noCache := flag.Bool("no-list-cache", false, "render every list from the database (disable the page cache)")
	pprofAddr := flag.String("pprof", "", "serve net/http/pprof on this address (profiling)")
	noFollow := flag.Bool("no-follow", false, "do not run API.Run: confirm every cached answer against the database")
	churn := flag.Int("churn", 0, "status writes per second to the organization's apps during the run, as reconcilers make them")
	flag.Parse()
	if *pprofAddr != "" {
		go func() { _ = http.ListenAndServe(*pprofAddr, nil) }()
	}
	if err := run(*listen, *apps, *noCache, *noFollow, *churn); err != nil {
		fmt.Fprintln(os.Stderr, "benchserver:", err)
		os.Exit(1)
	}
}

func run(listen string, apps int, noCache, noFollow bool, churn int) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	base := os.Getenv("DATABASE_URL")
	if base == "" {
		return fmt.Errorf("DATABASE_URL is not set (export DATABASE_URL=$(hack/postgres-up.sh))")
	}
	name := "paas_bench_" + randomHex(4)
	admin, err := pgx.Connect(ctx, base)
	if err != nil {
		return err
	}
	defer admin.Close(context.Background())
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		return err
	}
	defer admin.Exec(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)") //nolint:errcheck
	u, err := url.Parse(base)
	if err != nil {
		return err
	}
	u.Path = "/" + name
	dbURL := u.String()
	if _, err := store.Migrate(ctx, dbURL); err != nil {
		return err
	}
	s, err := store.Open(ctx, dbURL)
	if err != nil {
		return err
	}
	defer s.Close()
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	box, err := secret.NewBox(key)
	if err != nil {
		return err
	}
	seed, err := s.SeedAdmin(ctx, "bench@example.com", "bench-password")
	if err != nil {
		return err
	}
	for _, k := range []string{"max_apps_per_org", "max_deployments_per_hour"} {
		zero := "0"
		if err := s.PutSetting(ctx, store.PutSettingParams{Key: k, Value: &zero}); err != nil {
			return err
		}
	}
	jwtSecret := make([]byte, 32)
	_, _ = rand.Read(jwtSecret)
	deps := v1.Deps{Store: s, Box: box, JWTSecret: jwtSecret, Logger: zerolog.Nop()}
	if noCache {
		deps.ListCachePages = -1
	}
	a := v1.New(deps)
	if !noFollow {
		go func() { _ = a.Run(ctx) }()
	}
	srv := &api.Server{Register: a.Register}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return err
	}
	log := zerolog.New(os.Stderr).Level(zerolog.WarnLevel)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(log.WithContext(ctx), ln) }()

	baseURL := "http://" + ln.Addr().String()
	token, err := login(baseURL)
	if err != nil {
		return err
	}
	for i := 0; i < apps; i++ {
		body := map[string]any{"name": fmt.Sprintf("app-%02d", i), "spec": map[string]any{
			"image": "paas-testapp:v1", "plan": "standard", "health_check": map[string]any{"path": "/health"},
			"env": map[string]any{"DATABASE_URL": "postgres://app@db/app", "LOG_LEVEL": "info"}}}
		if err := post(baseURL+"/api/paas/apps", token, body, http.StatusCreated); err != nil {
			return err
		}
	}
	for i := 0; i < apps; i += 5 {
		app, err := s.GetAppByName(ctx, store.GetAppByNameParams{OrganizationID: seed.Organization.ID, Name: fmt.Sprintf("app-%02d", i)})
		if err != nil {
			return err
		}
		if _, err := s.CreateDomain(ctx, store.CreateDomainParams{AppID: app.ID, Hostname: fmt.Sprintf("app-%02d.example.com", i)}); err != nil {
			return err
		}
	}
	if churn > 0 {
		go writeStatuses(ctx, s, churn)
	}
	fmt.Printf("TOKEN=%s\nREADY %s\n", token, baseURL)
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	return <-errc
}

func login(baseURL string) (string, error) {
	b, _ := json.Marshal(map[string]string{"email": "bench@example.com", "password": "bench-password"})
	resp, err := http.Post(baseURL+"/api/auth/login", "application/json", bytes.NewReader(b))
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var out struct {
		Token string `json:"token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || out.Token == "" {
		return "", fmt.Errorf("login: %d %v", resp.StatusCode, err)
	}
	return out.Token, nil
}

func post(u, token string, body any, want int) error {
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest("POST", u, bytes.NewReader(b))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != want {
		var p map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&p)
		return fmt.Errorf("POST %s: %d %v", u, resp.StatusCode, p)
	}
	return nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// writeStatuses changes the running count of a random app perSecond times a
// second until ctx ends, as reconcilers write status while apps move: each
// write makes the organization's cached list stale.
func writeStatuses(ctx context.Context, s *store.Store, perSecond int) {
	t := time.NewTicker(time.Second / time.Duration(perSecond))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		_, _ = s.Pool.Exec(ctx, `UPDATE paas_apps SET running_replicas = (running_replicas + 1) % 3
			WHERE id = (SELECT id FROM paas_apps ORDER BY random() LIMIT 1)`)
	}
}
