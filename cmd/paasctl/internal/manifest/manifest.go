// Package manifest reads the app files `paasctl apply` and `paasctl diff`
// take, and compares them with the live apps. Everything here is pure: no
// network, no files (callers pass the bytes).
//
// A file holds one or more YAML documents separated by `---`; each is one
// app, shaped like the API's create body (`{name, spec}`) with the spec's env
// and the app's domains included:
//
//	kind: App            # optional
//	name: web
//	spec:
//	  image: paas-testapp:v1
//	  replicas: 2
//	  port: 8080
//	  plan: hobby
//	  command: ["/testapp"]
//	  health_check: {command: ["/testapp", "-healthcheck", "http://127.0.0.1:8080/health"]}
//	  stopped: false
//	  env:
//	    GREETING: hello
//	  domains: [web.example.com]
//
// An app built from git names a source instead of an image (the two are
// exclusive: its images come from its builds):
//
//	name: web
//	spec:
//	  source:
//	    git: {url: https://git.example.com/acme/web.git, ref: main, path: ""}
//	    dockerfile: Dockerfile   # or builder: auto
//
// A field the file leaves out is not managed by it: apply leaves its live
// value alone (a new app takes the API's default). `env` and `domains`, when
// present, are the whole set: variables missing from the map are removed.
// `health_check: null` removes a health check.
package manifest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/distribution/reference"
	"gopkg.in/yaml.v3"

	"github.com/skypanel/paas/store/spec"
)

// App is one app of a file.
type App struct {
	Name string
	Spec Spec
	// Source is where the app is declared ("app.yaml:3"), for messages.
	Source string
}

// Spec is an app's declared spec; nil (or unset) fields are not managed by
// the file.
type Spec struct {
	Image    *string
	Replicas *int
	Port     *int
	Plan     *string
	Command  *[]string
	Stopped  *bool
	// HealthCheckSet says the file names health_check; HealthCheck nil then
	// means "none".
	HealthCheckSet bool
	HealthCheck    *HealthCheck
	// Env is the whole set of variables when EnvSet.
	EnvSet bool
	Env    map[string]string
	// Domains is the whole set of hostnames when DomainsSet.
	DomainsSet bool
	Domains    []string
	// Source, when set, is the git source the app is built from (PUT
	// …/source); defaults are filled in (ref main, dockerfile Dockerfile).
	Source *Source
}

// Source is an app's git source, shaped as the API's AppSource.
type Source struct {
	Git        GitSource `json:"git"`
	Dockerfile string    `json:"dockerfile,omitempty"`
	Builder    string    `json:"builder"`
}

// GitSource is where the source is fetched from.
type GitSource struct {
	URL  string `json:"url"`
	Ref  string `json:"ref"`
	Path string `json:"path"`
}

// HealthCheck mirrors the API's health check; zero numbers mean the
// platform's defaults.
type HealthCheck struct {
	Command            []string `json:"command,omitempty" yaml:"command,omitempty"`
	Path               string   `json:"path,omitempty" yaml:"path,omitempty"`
	IntervalSeconds    int      `json:"interval_seconds,omitempty" yaml:"interval_seconds,omitempty"`
	TimeoutSeconds     int      `json:"timeout_seconds,omitempty" yaml:"timeout_seconds,omitempty"`
	Retries            int      `json:"retries,omitempty" yaml:"retries,omitempty"`
	StartPeriodSeconds int      `json:"start_period_seconds,omitempty" yaml:"start_period_seconds,omitempty"`
}

// Error is a problem in a file, with its position.
type Error struct {
	File      string
	Line, Col int
	Msg       string
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
		if e.Col > 0 {
			fmt.Fprintf(&b, ":%d", e.Col)
		}
	}
	b.WriteString(": ")
	b.WriteString(e.Msg)
	return b.String()
}

// Validation limits, the API's (docs/api.md), checked here so a bad file is
// refused before anything is written.
const (
	maxEnvValueLen = 16 << 10
	maxEnvVars     = 256
	maxReplicas    = 1000
	maxCommandArgs = 64
	maxImageLen    = 512
)

var (
	dnsLabel   = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,38}[a-z0-9])?$`)
	planName   = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?$`)
	healthPath = regexp.MustCompile(`^/[A-Za-z0-9._~/%=+,:@?-]*$`)
)

// The fields each mapping may hold, in the order messages list them.
var (
	appFields    = []string{"kind", "name", "spec"}
	specFields   = []string{"image", "replicas", "port", "plan", "command", "health_check", "stopped", "env", "domains", "source"}
	sourceFields = []string{"git", "dockerfile", "builder"}
	gitFields    = []string{"url", "ref", "path"}
	healthFields = []string{"command", "path", "interval_seconds", "timeout_seconds", "retries", "start_period_seconds"}
)

// Parse reads every app of one file; file names it in messages ("-" is
// shown as "<stdin>"). The first problem is returned, with its position.
func Parse(file string, data []byte) ([]App, error) {
	if file == "-" {
		file = "<stdin>"
	}
	p := &parser{file: file}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var apps []App
	for {
		var doc yaml.Node
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, p.yamlErr(err)
		}
		if len(doc.Content) == 0 {
			continue
		}
		root := doc.Content[0]
		if root.Kind == yaml.ScalarNode && root.Tag == "!!null" {
			continue // an empty document (a trailing ---)
		}
		app, err := p.app(root)
		if err != nil {
			return nil, err
		}
		apps = append(apps, app)
	}
	if len(apps) == 0 {
		return nil, &Error{File: file, Msg: "no app in the file (expected documents with name and spec)"}
	}
	return apps, nil
}

// CheckUnique refuses two declarations of one app name across files.
func CheckUnique(apps []App) error {
	seen := map[string]string{}
	for _, a := range apps {
		if prev, ok := seen[a.Name]; ok {
			return fmt.Errorf("%s: app %q is declared twice (first at %s)", a.Source, a.Name, prev)
		}
		seen[a.Name] = a.Source
	}
	return nil
}

type parser struct {
	file string
}

func (p *parser) errAt(n *yaml.Node, format string, args ...any) error {
	e := &Error{File: p.file, Msg: fmt.Sprintf(format, args...)}
	if n != nil {
		e.Line, e.Col = n.Line, n.Column
	}
	return e
}

var yamlLine = regexp.MustCompile(`^yaml: (?:line (\d+): )?(.*)$`)

// yamlErr turns a YAML syntax error into one positioned line.
func (p *parser) yamlErr(err error) error {
	msg := strings.Join(strings.Fields(err.Error()), " ")
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		return &Error{File: p.file, Line: line, Msg: "invalid YAML: " + m[2]}
	}
	return &Error{File: p.file, Msg: "invalid YAML: " + msg}
}

// fields walks a mapping, refusing unknown and repeated keys.
func (p *parser) fields(n *yaml.Node, where string, known []string, each func(key string, k, v *yaml.Node) error) error {
	if n.Kind != yaml.MappingNode {
		return p.errAt(n, "%s must be a mapping, got %s", where, describe(n))
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			return p.errAt(k, "%s: keys must be plain names", where)
		}
		key := k.Value
		if !slices.Contains(known, key) {
			msg := fmt.Sprintf("unknown field %q in %s", key, where)
			if s := suggest(key, known); s != "" {
				msg += fmt.Sprintf(" (did you mean %q?)", s)
			} else {
				msg += " (known: " + strings.Join(known, ", ") + ")"
			}
			return p.errAt(k, "%s", msg)
		}
		if seen[key] {
			return p.errAt(k, "field %q appears twice in %s", key, where)
		}
		seen[key] = true
		if err := each(key, k, v); err != nil {
			return err
		}
	}
	return nil
}

func (p *parser) app(root *yaml.Node) (App, error) {
	app := App{Source: fmt.Sprintf("%s:%d", p.file, root.Line)}
	var specNode, nameNode *yaml.Node
	err := p.fields(root, "the app", appFields, func(key string, k, v *yaml.Node) error {
		switch key {
		case "kind":
			s, err := p.str(v, "kind")
			if err != nil {
				return err
			}
			if s != "App" {
				return p.errAt(v, "kind %q is not supported (only App)", s)
			}
		case "name":
			s, err := p.str(v, "name")
			if err != nil {
				return err
			}
			app.Name, nameNode = s, v
		case "spec":
			specNode = v
		}
		return nil
	})
	if err != nil {
		return App{}, err
	}
	if nameNode == nil {
		return App{}, p.errAt(root, "the app has no name")
	}
	if !dnsLabel.MatchString(app.Name) {
		return App{}, p.errAt(nameNode, "name %q must be a DNS label: 1 to 40 lowercase letters, digits or '-', starting and ending with a letter or digit", app.Name)
	}
	if specNode == nil {
		return App{}, p.errAt(root, "app %q has no spec", app.Name)
	}
	spec, err := p.spec(specNode, app.Name)
	if err != nil {
		return App{}, err
	}
	app.Spec = spec
	return app, nil
}

func (p *parser) spec(n *yaml.Node, app string) (Spec, error) {
	var s Spec
	var imageNode, sourceNode *yaml.Node
	where := fmt.Sprintf("the spec of %q", app)
	err := p.fields(n, where, specFields, func(key string, k, v *yaml.Node) error {
		field := "spec." + key
		switch key {
		case "source":
			src, err := p.source(v, field)
			if err != nil {
				return err
			}
			s.Source, sourceNode = src, k
		case "image":
			img, err := p.str(v, field)
			if err != nil {
				return err
			}
			if msg := checkImage(img); msg != "" {
				return p.errAt(v, "%s %s", field, msg)
			}
			s.Image, imageNode = &img, k
		case "replicas":
			r, err := p.int(v, field, 0, maxReplicas)
			if err != nil {
				return err
			}
			s.Replicas = &r
		case "port":
			r, err := p.int(v, field, 1, 65535)
			if err != nil {
				return err
			}
			s.Port = &r
		case "plan":
			pl, err := p.str(v, field)
			if err != nil {
				return err
			}
			if !planName.MatchString(pl) {
				return p.errAt(v, "%s %q is not a plan name", field, pl)
			}
			s.Plan = &pl
		case "command":
			c, err := p.strs(v, field)
			if err != nil {
				return err
			}
			if len(c) > maxCommandArgs {
				return p.errAt(v, "%s has %d arguments; at most %d", field, len(c), maxCommandArgs)
			}
			s.Command = &c
		case "stopped":
			b, err := p.bool(v, field)
			if err != nil {
				return err
			}
			s.Stopped = &b
		case "health_check":
			s.HealthCheckSet = true
			if isNull(v) {
				return nil
			}
			hc, err := p.healthCheck(v, field)
			if err != nil {
				return err
			}
			s.HealthCheck = hc
		case "env":
			env, err := p.env(v, field)
			if err != nil {
				return err
			}
			s.EnvSet, s.Env = true, env
		case "domains":
			if isNull(v) {
				s.DomainsSet, s.Domains = true, []string{}
				return nil
			}
			ds, err := p.strs(v, field)
			if err != nil {
				return err
			}
			seen := map[string]bool{}
			for i, d := range ds {
				// The API's own rules and normal form (lower case,
				// punycode), so a file compares equal to what it wrote.
				d, err := spec.Hostname(d)
				if err != nil {
					return p.errAt(v.Content[i], "%s[%d] %q is not a hostname: %v", field, i, ds[i], err)
				}
				if seen[d] {
					return p.errAt(v.Content[i], "%s lists %q twice", field, d)
				}
				seen[d] = true
				ds[i] = d
			}
			slices.Sort(ds)
			s.DomainsSet, s.Domains = true, ds
		}
		return nil
	})
	if err == nil && imageNode != nil && sourceNode != nil {
		at := imageNode
		if sourceNode.Line > at.Line {
			at = sourceNode
		}
		return s, p.errAt(at, "spec.image and spec.source are exclusive: an app built from source gets its image from its builds (paasctl deploy %s --ref REF); remove one of them", app)
	}
	return s, err
}

// gitURLSchemes are the URL schemes the API takes for a source.
var gitURLSchemes = []string{"https", "http", "ssh", "git", "file"}

// source reads spec.source, with the API's defaults filled in.
func (p *parser) source(n *yaml.Node, field string) (*Source, error) {
	src := Source{Git: GitSource{Ref: "main"}, Builder: "dockerfile"}
	var gitNode, builderNode, dockerfileNode *yaml.Node
	err := p.fields(n, field, sourceFields, func(key string, k, v *yaml.Node) error {
		f := field + "." + key
		var err error
		switch key {
		case "git":
			gitNode = v
			err = p.fields(v, f, gitFields, func(key string, k, v *yaml.Node) error {
				f := f + "." + key
				var err error
				switch key {
				case "url":
					src.Git.URL, err = p.str(v, f)
					if err == nil {
						scheme, _, ok := strings.Cut(src.Git.URL, "://")
						if !ok || !slices.Contains(gitURLSchemes, scheme) {
							err = p.errAt(v, "%s %q must be an https://, http://, ssh://, git:// or file:// URL", f, src.Git.URL)
						}
					}
				case "ref":
					src.Git.Ref, err = p.str(v, f)
					if err == nil && (src.Git.Ref == "" || strings.ContainsAny(src.Git.Ref, " \t~^:?*[\\") || strings.Contains(src.Git.Ref, "..")) {
						err = p.errAt(v, "%s %q is not a branch, tag or commit sha", f, src.Git.Ref)
					}
				case "path":
					src.Git.Path, err = p.str(v, f)
					if err == nil && strings.Contains(src.Git.Path, "..") {
						err = p.errAt(v, "%s must stay inside the repository", f)
					}
				}
				return err
			})
		case "dockerfile":
			dockerfileNode = v
			src.Dockerfile, err = p.str(v, f)
			if err == nil && (src.Dockerfile == "" || strings.Contains(src.Dockerfile, "..")) {
				err = p.errAt(v, "%s must be a path inside the build context", f)
			}
		case "builder":
			builderNode = v
			src.Builder, err = p.str(v, f)
			if err == nil && src.Builder != "dockerfile" && src.Builder != "auto" {
				err = p.errAt(v, "%s must be dockerfile or auto, got %q", f, src.Builder)
			}
		}
		return err
	})
	switch {
	case err != nil:
		return nil, err
	case gitNode == nil:
		return nil, p.errAt(n, "%s needs git: {url: …}", field)
	case src.Git.URL == "":
		return nil, p.errAt(gitNode, "%s.git needs url", field)
	case builderNode != nil && dockerfileNode != nil && src.Builder == "auto":
		return nil, p.errAt(dockerfileNode, "%s: dockerfile and builder: auto are exclusive (auto generates the Dockerfile)", field)
	}
	if src.Builder == "dockerfile" && src.Dockerfile == "" {
		src.Dockerfile = "Dockerfile"
	}
	return &src, nil
}

func (p *parser) healthCheck(n *yaml.Node, field string) (*HealthCheck, error) {
	var hc HealthCheck
	err := p.fields(n, field, healthFields, func(key string, k, v *yaml.Node) error {
		f := field + "." + key
		var err error
		switch key {
		case "command":
			hc.Command, err = p.strs(v, f)
		case "path":
			hc.Path, err = p.str(v, f)
			if err == nil && !healthPath.MatchString(hc.Path) {
				err = p.errAt(v, "%s must be a URL path starting with / made of letters, digits and . _ ~ / %% = + , : @ ? -", f)
			}
		case "interval_seconds":
			hc.IntervalSeconds, err = p.int(v, f, 0, 3600)
		case "timeout_seconds":
			hc.TimeoutSeconds, err = p.int(v, f, 0, 3600)
		case "retries":
			hc.Retries, err = p.int(v, f, 0, 100)
		case "start_period_seconds":
			hc.StartPeriodSeconds, err = p.int(v, f, 0, 3600)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	switch {
	case len(hc.Command) == 0 && hc.Path == "":
		return nil, p.errAt(n, "%s needs command or path", field)
	case len(hc.Command) > 0 && hc.Path != "":
		return nil, p.errAt(n, "%s takes command or path, not both", field)
	}
	return &hc, nil
}

func (p *parser) env(n *yaml.Node, field string) (map[string]string, error) {
	env := map[string]string{}
	if isNull(n) {
		return env, nil
	}
	if n.Kind != yaml.MappingNode {
		return nil, p.errAt(n, "%s must be a mapping of NAME: value, got %s", field, describe(n))
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		key := k.Value
		f := field + "." + key
		if k.Kind != yaml.ScalarNode {
			return nil, p.errAt(k, "%s: keys must be variable names", field)
		}
		if err := spec.CheckEnvKey(key); err != nil {
			// In a manifest "key" would read as the YAML key: say "name".
			return nil, p.errAt(k, "%s: %s", f, strings.Replace(err.Error(), "key must", "the name must", 1))
		}
		if _, dup := env[key]; dup {
			return nil, p.errAt(k, "%s appears twice", f)
		}
		if v.Kind != yaml.ScalarNode || v.Tag == "!!null" {
			return nil, p.errAt(v, "%s must be a string (write %s: \"\" for an empty value)", f, key)
		}
		if len(v.Value) > maxEnvValueLen {
			return nil, p.errAt(v, "%s: the value must be at most %d bytes", f, maxEnvValueLen)
		}
		if strings.IndexByte(v.Value, 0) >= 0 {
			return nil, p.errAt(v, "%s: the value must not contain NUL bytes", f)
		}
		env[key] = v.Value
	}
	if len(env) > maxEnvVars {
		return nil, p.errAt(n, "%s has %d variables; at most %d", field, len(env), maxEnvVars)
	}
	return env, nil
}

func (p *parser) str(n *yaml.Node, field string) (string, error) {
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		return "", p.errAt(n, "%s must be a string, got %s", field, describe(n))
	}
	if n.Tag != "!!str" {
		return "", p.errAt(n, "%s must be a string, got %s (quote it)", field, describe(n))
	}
	return n.Value, nil
}

func (p *parser) strs(n *yaml.Node, field string) ([]string, error) {
	if n.Kind != yaml.SequenceNode {
		return nil, p.errAt(n, "%s must be a list of strings, got %s", field, describe(n))
	}
	out := make([]string, 0, len(n.Content))
	for i, c := range n.Content {
		if c.Kind != yaml.ScalarNode || c.Tag == "!!null" {
			return nil, p.errAt(c, "%s[%d] must be a string, got %s", field, i, describe(c))
		}
		out = append(out, c.Value)
	}
	return out, nil
}

func (p *parser) int(n *yaml.Node, field string, lo, hi int) (int, error) {
	if n.Kind != yaml.ScalarNode || n.Tag != "!!int" {
		return 0, p.errAt(n, "%s must be a whole number, got %s", field, describe(n))
	}
	v, err := strconv.ParseInt(n.Value, 0, 64)
	if err != nil || v < int64(lo) || v > int64(hi) {
		return 0, p.errAt(n, "%s must be between %d and %d, got %s", field, lo, hi, n.Value)
	}
	return int(v), nil
}

func (p *parser) bool(n *yaml.Node, field string) (bool, error) {
	if n.Kind != yaml.ScalarNode || n.Tag != "!!bool" {
		return false, p.errAt(n, "%s must be true or false, got %s", field, describe(n))
	}
	var b bool
	if err := n.Decode(&b); err != nil {
		return false, p.errAt(n, "%s must be true or false, got %s", field, describe(n))
	}
	return b, nil
}

func isNull(n *yaml.Node) bool { return n.Kind == yaml.ScalarNode && n.Tag == "!!null" }

// describe names a node's type for messages.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	}
	switch n.Tag {
	case "!!null":
		return "nothing"
	case "!!int", "!!float":
		return "the number " + n.Value
	case "!!bool":
		return n.Value
	}
	return strconv.Quote(n.Value)
}

func checkImage(img string) string {
	switch {
	case img == "":
		return "must not be empty"
	case len(img) > maxImageLen:
		return fmt.Sprintf("must be at most %d characters", maxImageLen)
	}
	if _, err := reference.ParseNormalizedNamed(img); err != nil {
		return fmt.Sprintf("%q is not a valid image reference: %v", img, err)
	}
	return ""
}

// suggest returns the known name closest to s when it is a likely typo: a
// small edit away, or sharing all but its last character as a prefix
// ("intervall" for "interval_seconds").
func suggest(s string, known []string) string {
	s = strings.ToLower(s)
	best, bestD := "", 3
	for _, k := range known {
		if d := distance(s, k); d < bestD {
			best, bestD = k, d
		}
	}
	if best != "" {
		return best
	}
	for _, k := range known {
		n := commonPrefix(s, k)
		if n >= 4 && n >= len(s)-1 {
			return k
		}
	}
	return ""
}

func commonPrefix(a, b string) int {
	n := 0
	for n < len(a) && n < len(b) && a[n] == b[n] {
		n++
	}
	return n
}

// distance is the Levenshtein distance of a and b.
func distance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
