package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/docker/docker/api/types"
	"github.com/docker/docker/api/types/swarm"
	dockerclient "github.com/docker/docker/client"
	"github.com/golang-jwt/jwt/v5"

	paasswarm "github.com/skypanel/paas/controllers/swarm"
	"github.com/skypanel/paas/controllers/swarm/swarmtest"
	"github.com/skypanel/paas/store/storetest"
)

// The binaries under test, built once by TestMain: paasd as operators run
// it, paasctl with the race detector (its watchers and prompts run
// goroutines).
var paasdBin, paasctlBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "paasctl-e2e")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	paasdBin, paasctlBin = filepath.Join(dir, "paasd"), filepath.Join(dir, "paasctl")
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, args := range [][]string{
		{"build", "-o", paasdBin, "../paasd"},
		{"build", "-race", "-ldflags", "-X main.version=e2e", "-o", paasctlBin, "."},
	} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cmd := exec.Command("go", args...)
			cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
			errs[i] = cmd.Run()
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		fmt.Fprintln(os.Stderr, "build paasd/paasctl:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

const jwtSecret = "e2e-jwt-secret-of-at-least-32-characters"

// platform is one test's paasd: its own database, installation id and port.
type platform struct {
	t        *testing.T
	url      string
	instance string
	server   string
	docker   *dockerclient.Client
	email    string
	password string
	// home is the HOME (and XDG_CONFIG_HOME below it) paasctl runs with.
	home string

	mu  sync.Mutex
	log []string
}

func startPlatform(t *testing.T) *platform {
	t.Helper()
	p := &platform{t: t, url: storetest.NewURL(t), instance: storetest.InstanceID(t), docker: swarmtest.Client(t),
		email: "admin@e2e.test", password: "e2e-password-1", home: t.TempDir()}
	swarmtest.CleanupInstance(t, p.docker, p.instance)

	seed := exec.Command(paasdBin, "seed-admin", "--email", p.email, "--password", p.password)
	seed.Env = append(os.Environ(), "DATABASE_URL="+p.url)
	if out, err := seed.CombinedOutput(); err != nil {
		t.Fatalf("seed-admin: %v\n%s", err, out)
	}

	key := make([]byte, 32)
	_, _ = rand.Read(key)
	addr := "127.0.0.1:" + strconv.Itoa(swarmtest.FreePort(t))
	p.server = "http://" + addr
	cmd := exec.Command(paasdBin, "serve")
	cmd.Env = append(os.Environ(),
		"DATABASE_URL="+p.url, "JWT_SECRET="+jwtSecret, "ENCRYPTION_KEY="+hex.EncodeToString(key),
		"PAAS_INSTANCE_ID="+p.instance, "PAAS_LISTEN="+addr, "LOG_LEVEL=info",
		"PAAS_RESYNC_INTERVAL=3s", "PAAS_UPDATE_MONITOR=2s", "PAAS_ROLLOUT_DEADLINE=2m", "PAAS_POLL_INTERVAL=250ms",
		"PAAS_LEADER_CHECK_INTERVAL=500ms", "PAAS_LEADER_RETRY_INTERVAL=250ms",
	)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			p.mu.Lock()
			p.log = append(p.log, sc.Text())
			p.mu.Unlock()
		}
		_ = cmd.Wait()
		close(done)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			p.mu.Lock()
			for _, l := range p.log {
				t.Logf("paasd: %s", l)
			}
			p.mu.Unlock()
		}
	})
	swarmtest.Eventually(t, 30*time.Second, "paasd answers /healthz", func() bool {
		resp, err := http.Get(p.server + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	return p
}

// result is one paasctl run.
type result struct {
	args           []string
	stdout, stderr string
	code           int
}

func (r result) String() string {
	return fmt.Sprintf("paasctl %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(r.args, " "), r.code, r.stdout, r.stderr)
}

// ctlEnv is the environment paasctl runs with: the test's HOME, none of
// the caller's PAAS_* variables, plus extra.
func (p *platform) ctlEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "PAAS") || strings.HasPrefix(kv, "HOME=") || strings.HasPrefix(kv, "XDG_CONFIG_HOME=") {
			continue
		}
		env = append(env, kv)
	}
	env = append(env, "HOME="+p.home, "XDG_CONFIG_HOME="+filepath.Join(p.home, ".config"))
	return append(env, extra...)
}

// run runs paasctl to its end (at most three minutes).
func (p *platform) run(stdin string, extraEnv []string, args ...string) result {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, paasctlBin, args...)
	cmd.Env = p.ctlEnv(extraEnv...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := result{args: args, stdout: out.String(), stderr: errb.String()}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	default:
		p.t.Fatalf("paasctl %v: %v", args, err)
	}
	if ctx.Err() != nil {
		p.t.Fatalf("paasctl %v did not finish in time\n%s", args, r)
	}
	if strings.Contains(r.stderr, "goroutine ") || strings.Contains(r.stderr, "panic:") || strings.Contains(r.stderr, "DATA RACE") {
		p.t.Fatalf("paasctl crashed:\n%s", r)
	}
	return r
}

// ctl runs paasctl and fails the test unless it exits 0.
func (p *platform) ctl(args ...string) result {
	p.t.Helper()
	r := p.run("", nil, args...)
	if r.code != 0 {
		p.t.Fatalf("want exit 0:\n%s", r)
	}
	return r
}

// fails runs paasctl expecting exit 1 with a one-line error containing want.
func (p *platform) fails(extraEnv []string, want string, args ...string) result {
	p.t.Helper()
	r := p.run("", extraEnv, args...)
	if r.code != 1 {
		p.t.Fatalf("want exit 1:\n%s", r)
	}
	msg := strings.TrimRight(r.stderr, "\n")
	if strings.Contains(msg, "\n") || !strings.HasPrefix(msg, "error: ") || !strings.Contains(msg, want) {
		p.t.Fatalf("want one line `error: ...%s...` on stderr:\n%s", want, r)
	}
	return r
}

// background runs a long-lived paasctl (get -w), collecting its output.
type background struct {
	cmd  *exec.Cmd
	mu   sync.Mutex
	out  bytes.Buffer
	errb bytes.Buffer
	done chan struct{}
}

type lockedWriter struct {
	mu *sync.Mutex
	b  *bytes.Buffer
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (p *platform) start(args ...string) *background {
	p.t.Helper()
	b := &background{cmd: exec.Command(paasctlBin, args...), done: make(chan struct{})}
	b.cmd.Env = p.ctlEnv()
	b.cmd.Stdout = lockedWriter{&b.mu, &b.out}
	b.cmd.Stderr = lockedWriter{&b.mu, &b.errb}
	if err := b.cmd.Start(); err != nil {
		p.t.Fatal(err)
	}
	go func() { _ = b.cmd.Wait(); close(b.done) }()
	p.t.Cleanup(b.stop)
	return b
}

func (b *background) output() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.out.String()
}

func (b *background) stderr() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.errb.String()
}

// stop interrupts the command as a user's Ctrl-C does.
func (b *background) stop() {
	_ = b.cmd.Process.Signal(os.Interrupt)
	select {
	case <-b.done:
	case <-time.After(10 * time.Second):
		_ = b.cmd.Process.Kill()
		<-b.done
	}
}

// jsonOf decodes a paasctl -o json answer.
func jsonOf[T any](t *testing.T, r result) T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(r.stdout), &v); err != nil {
		t.Fatalf("decode %s: %v", r, err)
	}
	return v
}

type meJSON struct {
	User struct {
		ID string `json:"id"`
	} `json:"user"`
}

type appJSON struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	Spec struct {
		Image    string            `json:"image"`
		Replicas int               `json:"replicas"`
		Env      map[string]string `json:"env"`
	} `json:"spec"`
	Status struct {
		Phase              string `json:"phase"`
		Generation         int64  `json:"generation"`
		ObservedGeneration int64  `json:"observed_generation"`
		CurrentDeployment  *struct {
			Version int `json:"version"`
		} `json:"current_deployment"`
	} `json:"status"`
}

type deploymentsJSON struct {
	Items []struct {
		Version    int    `json:"version"`
		Status     string `json:"status"`
		Image      string `json:"image"`
		RollbackOf *int   `json:"rollback_of"`
	} `json:"items"`
}

// service returns the app's Swarm service (with task counts).
func (p *platform) service(appID string) (swarm.Service, bool) {
	p.t.Helper()
	f := paasswarm.InstanceFilter(p.instance)
	f.Add("label", paasswarm.LabelAppID+"="+appID)
	list, err := p.docker.ServiceList(context.Background(), types.ServiceListOptions{Filters: f, Status: true})
	if err != nil {
		p.t.Fatal(err)
	}
	if len(list) != 1 {
		return swarm.Service{}, false
	}
	return list[0], true
}

const twoApps = `# the e2e test's apps
name: web
spec:
  image: paas-testapp:v1
  replicas: 2
  plan: standard
  env:
    GREETING: hello
---
kind: App
name: api
spec:
  image: %s
  env:
    ECHO_ENV: GREETING
`

// TestPaasctlEndToEnd drives the built paasctl against a real paasd on the
// real Swarm: login, apply of two apps, idempotent re-apply, a crashing
// release, rollback, scale, env, watch and delete, plus the clear errors of
// bad input.
func TestPaasctlEndToEnd(t *testing.T) {
	t.Parallel()
	p := startPlatform(t)
	dir := t.TempDir()
	file := func(name, content string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	appsFile := file("apps.yaml", fmt.Sprintf(twoApps, "paas-testapp:v1"))
	crashFile := file("crash.yaml", fmt.Sprintf(twoApps, "paas-testapp:crash"))

	// Bad input and missing credentials: one clear line, exit 1.
	p.fails(nil, "no server configured", "get", "apps")
	p.fails(nil, `bad.yaml:4:3: unknown field "replica" in the spec of "web" (did you mean "replicas"?)`,
		"apply", "-f", file("bad.yaml", "name: web\nspec:\n  image: paas-testapp:v1\n  replica: 2\n"))
	p.fails([]string{"PAAS_SERVER=" + p.server}, "not logged in to "+p.server, "get", "apps")

	// Login with a prompt answered on stdin; the config file is private.
	r := p.run(p.email+"\n"+p.password+"\n", nil, "login", "--server", p.server)
	if r.code != 0 || !strings.Contains(r.stdout, "Logged in to "+p.server+" as "+p.email) {
		t.Fatalf("login:\n%s", r)
	}
	cfgPath := filepath.Join(p.home, ".config", "paasctl", "config.yaml")
	if st, err := os.Stat(cfgPath); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("config file %s: %v, mode %v", cfgPath, err, st.Mode())
	}
	if r := p.ctl("whoami"); !strings.Contains(r.stdout, p.email) {
		t.Fatalf("whoami:\n%s", r)
	}
	if r := p.ctl("orgs"); !regexp.MustCompile(`(?m)^\*\s+\S+`).MatchString(r.stdout) {
		t.Fatalf("orgs marks no current organization:\n%s", r)
	}
	p.fails([]string{"PAAS_TOKEN=not-a-token"}, "Unauthorized: the token is not valid", "get", "apps")
	me := jsonOf[meJSON](t, p.ctl("whoami", "-o", "json"))
	expired, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.RegisteredClaims{
		Issuer: "paasd", Audience: jwt.ClaimStrings{"paas-api"}, Subject: me.User.ID,
		IssuedAt: jwt.NewNumericDate(time.Now().Add(-25 * time.Hour)), ExpiresAt: jwt.NewNumericDate(time.Now().Add(-time.Hour)),
	}).SignedString([]byte(jwtSecret))
	if err != nil {
		t.Fatal(err)
	}
	p.fails([]string{"PAAS_TOKEN=" + expired}, "the login token has expired", "get", "apps")
	staleCfg := file("stale.yaml", fmt.Sprintf("server: %s\ntoken: %s\ntoken_expires_at: %s\n", p.server, expired,
		time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)))
	p.fails([]string{"PAASCTL_CONFIG=" + staleCfg}, "your login to "+p.server+" expired", "get", "apps")

	// Watch from the start: it must print the transitions that follow.
	watch := p.start("get", "apps", "-w")
	swarmtest.Eventually(t, 15*time.Second, "get apps -w prints its header once synced", func() bool {
		return strings.HasPrefix(watch.output(), "NAME ")
	})

	// Apply two apps; both roll out.
	r = p.ctl("apply", "-f", appsFile)
	for _, want := range []string{"app/web created", "app/api created"} {
		if !strings.Contains(r.stdout, want) {
			t.Fatalf("apply: want %q:\n%s", want, r)
		}
	}
	r = p.ctl("rollout", "status", "web", "api", "--timeout", "2m")
	for _, want := range []string{"web: release 1 deployed: 2/2 replicas running", "api: release 1 deployed: 1/1 replicas running"} {
		if !strings.Contains(r.stdout, want) {
			t.Fatalf("rollout status: want %q:\n%s", want, r)
		}
	}
	web := jsonOf[appJSON](t, p.ctl("get", "app", "web", "-o", "json"))
	api := jsonOf[appJSON](t, p.ctl("get", "app", "api", "-o", "json"))

	// The same file again: no change, no write, no release.
	r = p.ctl("apply", "-f", appsFile)
	if !strings.Contains(r.stdout, "app/web unchanged") || !strings.Contains(r.stdout, "app/api unchanged") {
		t.Fatalf("second apply:\n%s", r)
	}
	p.ctl("diff", "-f", appsFile, "--exit-code")
	for _, a := range []appJSON{web, api} {
		again := jsonOf[appJSON](t, p.ctl("get", "app", a.Name, "-o", "json"))
		if again.Status.Generation != a.Status.Generation {
			t.Fatalf("%s: generation %d -> %d after applying the same file", a.Name, a.Status.Generation, again.Status.Generation)
		}
		if ds := jsonOf[deploymentsJSON](t, p.ctl("get", "deployments", a.Name, "-o", "json")); len(ds.Items) != 1 {
			t.Fatalf("%s: %d releases after applying the same file, want 1", a.Name, len(ds.Items))
		}
	}

	// The watch printed web going from not running to running with 2/2.
	swarmtest.Eventually(t, 10*time.Second, "get apps -w shows web becoming Running 2/2", func() bool {
		rows := rowsOf(watch.output(), "web")
		return len(rows) >= 2 && !strings.Contains(rows[0], "Running") && strings.Contains(rows[len(rows)-1], "Running") &&
			strings.Contains(rows[len(rows)-1], "2/2")
	})

	// A crashing image: the rollout fails with the task's error; release 1 keeps serving.
	r = p.ctl("diff", "-f", crashFile)
	if !strings.Contains(r.stdout, "~ image: paas-testapp:v1 -> paas-testapp:crash") {
		t.Fatalf("diff before the crash:\n%s", r)
	}
	r = p.ctl("apply", "-f", crashFile)
	if !strings.Contains(r.stdout, "app/api configured: image paas-testapp:v1 -> paas-testapp:crash") || !strings.Contains(r.stdout, "app/web unchanged") {
		t.Fatalf("apply crash:\n%s", r)
	}
	r = p.run("", nil, "rollout", "status", "api", "--timeout", "2m")
	if r.code != 1 || !strings.Contains(r.stderr, "api: release 2 failed") || !regexp.MustCompile(`exit|non-zero`).MatchString(r.stderr) {
		t.Fatalf("rollout status of the crashing release: want exit 1 and the task's error:\n%s", r)
	}
	api = jsonOf[appJSON](t, p.ctl("get", "app", "api", "-o", "json"))
	if api.Status.CurrentDeployment == nil || api.Status.CurrentDeployment.Version != 1 {
		t.Fatalf("release 1 should keep serving: %+v", api.Status)
	}
	swarmtest.Eventually(t, 10*time.Second, "get apps -w shows api Degraded", func() bool {
		return slices.ContainsFunc(rowsOf(watch.output(), "api"), func(row string) bool { return strings.Contains(row, "Degraded") })
	})

	// Rollback goes back to the serving release, as release 3.
	r = p.ctl("rollback", "api")
	if !strings.Contains(r.stdout, "rolling back to release 1") {
		t.Fatalf("rollback:\n%s", r)
	}
	p.ctl("rollout", "status", "api", "--timeout", "2m")
	ds := jsonOf[deploymentsJSON](t, p.ctl("get", "deployments", "api", "-o", "json"))
	if len(ds.Items) != 3 || ds.Items[0].Version != 3 || ds.Items[0].Status != "deployed" || ds.Items[0].Image != "paas-testapp:v1" ||
		ds.Items[0].RollbackOf == nil || *ds.Items[0].RollbackOf != 1 || ds.Items[1].Status != "failed" {
		t.Fatalf("releases after rollback: %+v", ds.Items)
	}
	// The old task may still be stopping when the rollout is reported done.
	swarmtest.Eventually(t, 30*time.Second, "api service runs release 3 on one task", func() bool {
		svc, ok := p.service(api.ID)
		return ok && svc.Spec.Labels["paas.release"] == "3" && svc.ServiceStatus != nil && svc.ServiceStatus.RunningTasks == 1
	})

	// Scale: three replicas run on the Swarm.
	r = p.ctl("scale", "web=3", "--wait")
	if !strings.Contains(r.stdout, "web scaled to 3 replicas") || !strings.Contains(r.stdout, "web: release 1 deployed: 3/3 replicas running") {
		t.Fatalf("scale:\n%s", r)
	}
	if svc, ok := p.service(web.ID); !ok || *svc.Spec.Mode.Replicated.Replicas != 3 || svc.ServiceStatus.RunningTasks != 3 {
		t.Fatalf("web service after scale: ok=%v %+v", ok, svc.ServiceStatus)
	}

	// env set: a new release carries the variable.
	r = p.ctl("env", "set", "web", "FOO=bar baz")
	if !strings.Contains(r.stdout, "web: set FOO") {
		t.Fatalf("env set:\n%s", r)
	}
	p.ctl("rollout", "status", "web")
	if svc, ok := p.service(web.ID); !ok || !slices.Contains(svc.Spec.TaskTemplate.ContainerSpec.Env, "FOO=bar baz") ||
		svc.Spec.Labels["paas.release"] != "2" || svc.ServiceStatus.RunningTasks != 3 {
		t.Fatalf("web service after env set: ok=%v env=%v labels=%v", ok, svc.Spec.TaskTemplate.ContainerSpec.Env, svc.Spec.Labels)
	}
	if env := p.ctl("env", "export", "web"); !strings.Contains(env.stdout, `FOO="bar baz"`) {
		t.Fatalf("env export:\n%s", env)
	}

	// Reading commands answer about the running app.
	if r := p.ctl("describe", "app", "web"); !strings.Contains(r.stdout, "Conditions:") || !strings.Contains(r.stdout, "ReplicasReady") {
		t.Fatalf("describe:\n%s", r)
	}
	if r := p.ctl("events", "web"); !strings.Contains(r.stdout, "RolloutSucceeded") {
		t.Fatalf("events:\n%s", r)
	}
	swarmtest.Eventually(t, 20*time.Second, "logs show the app listening", func() bool {
		return strings.Contains(p.run("", nil, "logs", "web", "--tail", "20").stdout, "listening on :8080")
	})

	// Delete: the service leaves the Swarm and the watch says so.
	r = p.ctl("delete", "app", "api", "--wait")
	if !strings.Contains(r.stdout, "app/api deleted") || !strings.Contains(r.stdout, "app/api gone") {
		t.Fatalf("delete:\n%s", r)
	}
	swarmtest.Eventually(t, 30*time.Second, "api's service is removed", func() bool {
		_, ok := p.service(api.ID)
		return !ok
	})
	swarmtest.Eventually(t, 10*time.Second, "get apps -w shows api deleted", func() bool {
		return slices.ContainsFunc(rowsOf(watch.output(), "api"), func(row string) bool { return strings.Contains(row, "Deleted") })
	})
	if r := p.ctl("get", "apps"); strings.Contains(r.stdout, "api ") || !strings.Contains(r.stdout, "web ") {
		t.Fatalf("get apps after delete:\n%s", r)
	}
	watch.stop()
	if s := watch.stderr(); s != "" {
		t.Fatalf("get apps -w wrote to stderr: %s", s)
	}
	t.Logf("get apps -w printed:\n%s", watch.output())
}

// rowsOf returns the rows of a table printed by get apps -w about app.
func rowsOf(out, app string) []string {
	var rows []string
	for _, l := range strings.Split(out, "\n") {
		if f := strings.Fields(l); len(f) > 0 && f[0] == app {
			rows = append(rows, l)
		}
	}
	return rows
}
