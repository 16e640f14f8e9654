package manifest

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/skypanel/paas/api/client"
)

func ptr[T any](v T) *T { return &v }

func TestParseTwoApps(t *testing.T) {
	apps, err := Parse("apps.yaml", []byte(`# two apps
kind: App
name: web
spec:
  image: paas-testapp:v1
  replicas: 2
  port: 9090
  plan: standard
  command: ["/testapp", "-v"]
  stopped: false
  health_check:
    path: /health
    interval_seconds: 5
  env:
    GREETING: hello
    NUMBER: 08
    FLAG: true
    EMPTY: ""
  domains: [Web.Example.com, api.example.com.]
---
name: api
spec:
  image: registry.example.com:5000/team/api@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
---
`))
	if err != nil {
		t.Fatal(err)
	}
	if len(apps) != 2 {
		t.Fatalf("got %d apps", len(apps))
	}
	web := apps[0]
	if web.Name != "web" || web.Source != "apps.yaml:2" {
		t.Fatalf("web: %+v", web)
	}
	s := web.Spec
	if *s.Image != "paas-testapp:v1" || *s.Replicas != 2 || *s.Port != 9090 || *s.Plan != "standard" || *s.Stopped {
		t.Fatalf("scalars: %+v", s)
	}
	if strings.Join(*s.Command, " ") != "/testapp -v" {
		t.Fatalf("command %v", *s.Command)
	}
	if !s.HealthCheckSet || s.HealthCheck.Path != "/health" || s.HealthCheck.IntervalSeconds != 5 {
		t.Fatalf("health check %+v", s.HealthCheck)
	}
	wantEnv := map[string]string{"GREETING": "hello", "NUMBER": "08", "FLAG": "true", "EMPTY": ""}
	if !s.EnvSet || len(s.Env) != len(wantEnv) {
		t.Fatalf("env %v", s.Env)
	}
	for k, v := range wantEnv {
		if s.Env[k] != v {
			t.Fatalf("env %s = %q, want %q (values keep their text)", k, s.Env[k], v)
		}
	}
	if strings.Join(s.Domains, ",") != "api.example.com,web.example.com" {
		t.Fatalf("domains %v (lowercased, trailing dot dropped, sorted)", s.Domains)
	}
	api := apps[1].Spec
	if api.Replicas != nil || api.Port != nil || api.Plan != nil || api.Command != nil || api.HealthCheckSet || api.EnvSet || api.DomainsSet {
		t.Fatalf("absent fields must stay unmanaged: %+v", api)
	}
}

func TestParseErrors(t *testing.T) {
	cases := []struct {
		name, doc, want string
	}{
		{"typo", "name: web\nspec:\n  image: a\n  replica: 2\n", `f.yaml:4:3: unknown field "replica" in the spec of "web" (did you mean "replicas"?)`},
		{"unknown spec field", "name: web\nspec:\n  image: a\n  volumes: []\n", `f.yaml:4:3: unknown field "volumes" in the spec of "web" (known: image, replicas, port, plan, command, health_check, stopped, env, domains, source)`},
		{"unknown top field", "name: web\nmetadata: {}\nspec: {image: a}\n", `f.yaml:2:1: unknown field "metadata" in the app (known: kind, name, spec)`},
		{"unknown health field", "name: web\nspec:\n  image: a\n  health_check: {path: /, intervall: 3}\n", `unknown field "intervall" in spec.health_check (did you mean "interval_seconds"?)`},
		{"no name", "spec: {image: a}\n", "f.yaml:1:1: the app has no name"},
		{"no spec", "name: web\n", `f.yaml:1:1: app "web" has no spec`},
		{"bad name", "name: Web_1\nspec: {image: a}\n", `f.yaml:1:7: name "Web_1" must be a DNS label`},
		{"kind", "kind: Service\nname: web\nspec: {image: a}\n", `kind "Service" is not supported (only App)`},
		{"replicas type", "name: web\nspec:\n  image: a\n  replicas: two\n", `f.yaml:4:13: spec.replicas must be a whole number, got "two"`},
		{"replicas range", "name: web\nspec:\n  image: a\n  replicas: -1\n", "spec.replicas must be between 0 and 1000, got -1"},
		{"port range", "name: web\nspec:\n  image: a\n  port: 70000\n", "spec.port must be between 1 and 65535, got 70000"},
		{"image type", "name: web\nspec:\n  image: 12\n", "spec.image must be a string, got the number 12 (quote it)"},
		{"bad image", "name: web\nspec:\n  image: 'UPPER:case'\n", `spec.image "UPPER:case" is not a valid image reference`},
		{"stopped type", "name: web\nspec:\n  image: a\n  stopped: maybe\n", `spec.stopped must be true or false, got "maybe"`},
		{"command type", "name: web\nspec:\n  image: a\n  command: /bin/app\n", `spec.command must be a list of strings, got "/bin/app"`},
		{"env key", "name: web\nspec:\n  image: a\n  env: {lower: x}\n", "f.yaml:4:9: spec.env.lower: the name must match [A-Z_][A-Z0-9_]*"},
		{"env PORT", "name: web\nspec:\n  image: a\n  env: {PORT: '1'}\n", "PORT is reserved"},
		{"env key length", "name: web\nspec:\n  image: a\n  env: {" + strings.Repeat("K", 65) + ": x}\n", "spec.env." + strings.Repeat("K", 65) + ": the name must be at most 64 characters"},
		{"env null", "name: web\nspec:\n  image: a\n  env:\n    A:\n", `spec.env.A must be a string (write A: "" for an empty value)`},
		{"env list", "name: web\nspec:\n  image: a\n  env: [A=1]\n", "spec.env must be a mapping of NAME: value, got a list"},
		{"health both", "name: web\nspec:\n  image: a\n  health_check: {path: /, command: [x]}\n", "spec.health_check takes command or path, not both"},
		{"health none", "name: web\nspec:\n  image: a\n  health_check: {retries: 3}\n", "spec.health_check needs command or path"},
		{"health path", "name: web\nspec:\n  image: a\n  health_check: {path: 'health; rm'}\n", "spec.health_check.path must be a URL path"},
		{"domain", "name: web\nspec:\n  image: a\n  domains: [localhost]\n", `spec.domains[0] "localhost" is not a hostname`},
		{"domain twice", "name: web\nspec:\n  image: a\n  domains: [a.example.com, A.example.com]\n", `spec.domains lists "a.example.com" twice`},
		{"duplicate key", "name: web\nspec:\n  image: a\n  image: b\n", `field "image" appears twice in the spec of "web"`},
		{"not a mapping", "- name: web\n", "f.yaml:1:1: the app must be a mapping, got a list"},
		{"syntax", "name: web\nspec: [\n", "f.yaml:2: invalid YAML: did not find expected node content"},
		{"empty", "# nothing\n---\n", "f.yaml: no app in the file"},
		{"image and source", "name: web\nspec:\n  image: a\n  source: {git: {url: 'https://g.example/x.git'}}\n", "f.yaml:4:3: spec.image and spec.source are exclusive"},
		{"source and image", "name: web\nspec:\n  source: {git: {url: 'https://g.example/x.git'}}\n  image: a\n", "f.yaml:4:3: spec.image and spec.source are exclusive"},
		{"source no git", "name: web\nspec:\n  source: {builder: auto}\n", "spec.source needs git: {url: …}"},
		{"source no url", "name: web\nspec:\n  source: {git: {ref: main}}\n", "spec.source.git needs url"},
		{"source url", "name: web\nspec:\n  source: {git: {url: 'ftp://x/y'}}\n", `spec.source.git.url "ftp://x/y" must be an https://`},
		{"source ref", "name: web\nspec:\n  source: {git: {url: 'https://g.example/x.git', ref: 'a b'}}\n", `spec.source.git.ref "a b" is not a branch`},
		{"source path", "name: web\nspec:\n  source: {git: {url: 'https://g.example/x.git', path: ../up}}\n", "spec.source.git.path must stay inside the repository"},
		{"source builder", "name: web\nspec:\n  source: {git: {url: 'https://g.example/x.git'}, builder: heroku}\n", `spec.source.builder must be dockerfile or auto, got "heroku"`},
		{"source auto dockerfile", "name: web\nspec:\n  source: {git: {url: 'https://g.example/x.git'}, builder: auto, dockerfile: D}\n", "dockerfile and builder: auto are exclusive"},
		{"source git field", "name: web\nspec:\n  source: {git: {url: 'https://g.example/x.git', branch: main}}\n", `unknown field "branch" in spec.source.git`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse("f.yaml", []byte(c.doc))
			if err == nil {
				t.Fatalf("no error, want %q", c.want)
			}
			msg := err.Error()
			if !strings.Contains(msg, c.want) {
				t.Fatalf("error %q\nwant it to contain %q", msg, c.want)
			}
			if strings.Contains(msg, "\n") {
				t.Fatalf("error spans lines: %q", msg)
			}
		})
	}
}

func TestParseStdinNameAndUnique(t *testing.T) {
	_, err := Parse("-", []byte("name: web\nspec: {image: a, foo: 1}\n"))
	if err == nil || !strings.HasPrefix(err.Error(), "<stdin>:2:") {
		t.Fatalf("stdin error %v", err)
	}
	a, _ := Parse("a.yaml", []byte("name: web\nspec: {image: a}\n"))
	b, _ := Parse("b.yaml", []byte("\n\nname: web\nspec: {image: b}\n"))
	err = CheckUnique(append(a, b...))
	if err == nil || err.Error() != `b.yaml:3: app "web" is declared twice (first at a.yaml:1)` {
		t.Fatalf("unique: %v", err)
	}
}

func liveApp() *client.App {
	hc := []string{"/testapp", "-healthcheck", "http://127.0.0.1:8080/health"}
	return &client.App{Name: "web", Version: 7, Spec: client.AppSpec{
		Image: "paas-testapp:v1", Replicas: 2, Port: 8080, Plan: "standard", Command: []string{},
		Env: map[string]string{"KEEP": "1", "CHANGE": "old", "DROP": "x"}, HealthCheck: &client.HealthCheck{Command: &hc},
		Domains: []string{"web.example.com"},
	}, Status: client.AppStatus{Urls: []string{"https://web-acme.apps.example.net", "https://web.example.com"}}}
}

func mustParse(t *testing.T, doc string) App {
	t.Helper()
	apps, err := Parse("f.yaml", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	return apps[0]
}

func TestCompareUnchangedWhenEqual(t *testing.T) {
	app := mustParse(t, `name: web
spec:
  image: paas-testapp:v1
  replicas: 2
  port: 8080
  plan: standard
  command: []
  health_check: {command: ["/testapp", "-healthcheck", "http://127.0.0.1:8080/health"]}
  env: {KEEP: "1", CHANGE: old, DROP: x}
  domains: [web.example.com]
`)
	p := Compare(app, liveApp())
	if !p.Unchanged() || p.Patch != nil || p.DomainsChanged {
		t.Fatalf("equal spec must plan nothing: %+v", p)
	}
	// A file that leaves fields out manages only what it names.
	p = Compare(mustParse(t, "name: web\nspec: {image: paas-testapp:v1}\n"), liveApp())
	if !p.Unchanged() {
		t.Fatalf("partial file: %+v", p.Changes)
	}
}

func TestComparePatch(t *testing.T) {
	app := mustParse(t, `name: web
spec:
  image: paas-testapp:v2
  replicas: 3
  command: [/testapp]
  health_check: null
  env: {KEEP: "1", CHANGE: new, ADD: "y"}
`)
	p := Compare(app, liveApp())
	got, _ := json.Marshal(p.Patch)
	want := `{"spec":{"command":["/testapp"],"env":{"ADD":"y","CHANGE":"new","DROP":null},"health_check":null,"image":"paas-testapp:v2","replicas":3}}`
	if string(got) != want {
		t.Fatalf("patch\n got %s\nwant %s", got, want)
	}
	if !Reconfigures(p) {
		t.Fatal("an image change cuts a release")
	}
	if s := Summary(p); s != `image paas-testapp:v1 -> paas-testapp:v2, replicas 2 -> 3, command [] -> ["/testapp"], health_check removed, env +ADD ~CHANGE -DROP` {
		t.Fatalf("summary %q", s)
	}

	// A health check added, and one changed.
	live := liveApp()
	live.Spec.HealthCheck = nil
	p = Compare(mustParse(t, "name: web\nspec:\n  health_check: {path: /health, retries: 5}\n"), live)
	got, _ = json.Marshal(p.Patch)
	if string(got) != `{"spec":{"health_check":{"path":"/health","retries":5}}}` {
		t.Fatalf("add health check: %s", got)
	}
	p = Compare(mustParse(t, "name: web\nspec:\n  health_check: {command: [/testapp, -healthcheck, 'http://127.0.0.1:8080/health'], interval_seconds: 30}\n"), liveApp())
	if len(p.Changes) != 1 || p.Changes[0].Op != Modify || p.Changes[0].Field != "health_check" {
		t.Fatalf("modify health check: %+v", p.Changes)
	}

	// Replicas alone cut no release.
	p = Compare(mustParse(t, "name: web\nspec: {replicas: 1, stopped: true}\n"), liveApp())
	if Reconfigures(p) {
		t.Fatal("replicas and stopped cut no release")
	}
	// An empty env map removes every variable.
	p = Compare(mustParse(t, "name: web\nspec: {env: {}}\n"), liveApp())
	got, _ = json.Marshal(p.Patch)
	if string(got) != `{"spec":{"env":{"CHANGE":null,"DROP":null,"KEEP":null}}}` {
		t.Fatalf("empty env: %s", got)
	}
}

func TestCompareDomains(t *testing.T) {
	p := Compare(mustParse(t, "name: web\nspec: {domains: [www.example.com]}\n"), liveApp())
	if !p.DomainsChanged || Summary(p) != "domains +www.example.com -web.example.com" {
		t.Fatalf("domains: %+v %q", p, Summary(p))
	}
	if got, _ := json.Marshal(p.Patch); string(got) != `{"spec":{"domains":["www.example.com"]}}` {
		t.Fatalf("domains are the whole set in the spec patch: %s", got)
	}
	if Reconfigures(p) {
		t.Fatal("domains cut no release")
	}
	// International names compare in the API's form; an empty list removes every domain.
	p = Compare(mustParse(t, "name: web\nspec: {domains: [Bücher.example, web.example.com]}\n"), liveApp())
	if Summary(p) != "domains +xn--bcher-kva.example" {
		t.Fatalf("idna: %q", Summary(p))
	}
	p = Compare(mustParse(t, "name: web\nspec: {domains: []}\n"), liveApp())
	if got, _ := json.Marshal(p.Patch); string(got) != `{"spec":{"domains":[]}}` {
		t.Fatalf("no domains: %s", got)
	}
}

func TestCreateRequest(t *testing.T) {
	app := mustParse(t, `name: web
spec:
  image: paas-testapp:v1
  replicas: 2
  health_check: {path: /health}
  env: {A: "1"}
  domains: [www.example.com]
`)
	p := Compare(app, nil)
	if !p.Create || len(p.Changes) != 5 {
		t.Fatalf("create plan %+v", p)
	}
	got, _ := json.Marshal(CreateRequest(app))
	want := `{"name":"web","spec":{"domains":["www.example.com"],"env":{"A":"1"},"health_check":{"path":"/health"},"image":"paas-testapp:v1","replicas":2}}`
	if string(got) != want {
		t.Fatalf("create body\n got %s\nwant %s", got, want)
	}
}

func TestRenderDiff(t *testing.T) {
	app := mustParse(t, `name: web
spec:
  image: paas-testapp:v2
  env: {KEEP: "1", CHANGE: new, ADD: "y"}
`)
	p := Compare(app, liveApp())
	var b bytes.Buffer
	RenderDiff(&b, p, RenderOptions{})
	want := `~ app/web
    ~ image: paas-testapp:v1 -> paas-testapp:v2
    + env.ADD: (hidden)
    ~ env.CHANGE: (changed)
    - env.DROP: (removed)
`
	if b.String() != want {
		t.Fatalf("diff\n got:\n%s\nwant:\n%s", b.String(), want)
	}
	b.Reset()
	RenderDiff(&b, p, RenderOptions{ShowValues: true})
	if !strings.Contains(b.String(), `~ env.CHANGE: "old" -> "new"`) || !strings.Contains(b.String(), `- env.DROP: "x" (removed)`) {
		t.Fatalf("diff with values:\n%s", b.String())
	}
	b.Reset()
	RenderDiff(&b, p, RenderOptions{Color: true})
	if !strings.Contains(b.String(), "\x1b[32m    + env.ADD: (hidden)\x1b[0m") {
		t.Fatalf("coloured diff: %q", b.String())
	}
	b.Reset()
	RenderDiff(&b, Compare(mustParse(t, "name: web\nspec: {image: paas-testapp:v1}\n"), liveApp()), RenderOptions{})
	if b.String() != "  app/web (no change)\n" {
		t.Fatalf("no change: %q", b.String())
	}
	b.Reset()
	RenderDiff(&b, Compare(app, nil), RenderOptions{})
	if !strings.HasPrefix(b.String(), "+ app/web (new)\n    + image: paas-testapp:v2\n") {
		t.Fatalf("new app: %q", b.String())
	}
}

func TestSuggest(t *testing.T) {
	for in, want := range map[string]string{"replica": "replicas", "imag": "image", "Env": "env", "healthcheck": "health_check", "zzz": ""} {
		if got := suggest(in, specFields); got != want {
			t.Errorf("suggest(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestParseSource: a source takes the API's defaults (ref main, the
// Dockerfile builder with ./Dockerfile); builder auto needs no dockerfile.
func TestParseSource(t *testing.T) {
	apps, err := Parse("f.yaml", []byte("name: web\nspec:\n  source: {git: {url: 'https://g.example/x.git'}}\n---\n"+
		"name: api\nspec:\n  replicas: 2\n  source:\n    git: {url: 'ssh://git@g.example/api.git', ref: v2, path: svc}\n    builder: auto\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := Source{Git: GitSource{URL: "https://g.example/x.git", Ref: "main"}, Builder: "dockerfile", Dockerfile: "Dockerfile"}
	if s := apps[0].Spec; s.Source == nil || *s.Source != want || s.Image != nil {
		t.Fatalf("web: %+v", s.Source)
	}
	want = Source{Git: GitSource{URL: "ssh://git@g.example/api.git", Ref: "v2", Path: "svc"}, Builder: "auto"}
	if s := apps[1].Spec; s.Source == nil || *s.Source != want || *s.Replicas != 2 {
		t.Fatalf("api: %+v", s.Source)
	}
}
