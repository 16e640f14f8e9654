package build

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// TestDetectGolden: each supported stack is recognised from its marker
// files, and its generated Dockerfile matches testdata/<case>.Dockerfile.
func TestDetectGolden(t *testing.T) {
	cases := []struct {
		name   string
		files  []string
		want   Stack
		family string // buildpack_default_stack; "" is the default (debian)
	}{
		{"dockerfile", []string{"Dockerfile", "go.mod", "main.go"}, StackDockerfile, ""},
		{"go", []string{"go.mod", "go.sum", "main.go"}, StackGo, ""},
		{"node", []string{"package.json", "index.js", "index.html"}, StackNode, ""},
		{"python-requirements", []string{"requirements.txt", "app.py"}, StackPython, ""},
		{"python-pyproject", []string{"pyproject.toml", "app.py"}, StackPython, ""},
		{"ruby", []string{"Gemfile", "Gemfile.lock", "config.ru"}, StackRuby, ""},
		{"static", []string{"index.html", "style.css"}, StackStatic, ""},
		// The alpine family switches every stack's base images.
		{"alpine-go", []string{"go.mod", "go.sum", "main.go"}, StackGo, "alpine"},
		{"alpine-node", []string{"package.json", "index.js"}, StackNode, "alpine"},
		{"alpine-python", []string{"requirements.txt", "app.py"}, StackPython, "alpine"},
		{"alpine-ruby", []string{"Gemfile", "config.ru"}, StackRuby, "alpine"},
		{"alpine-static", []string{"index.html"}, StackStatic, "alpine"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := Detect(c.files)
			if err != nil || got != c.want {
				t.Fatalf("Detect(%v) = %q, %v; want %q", c.files, got, err, c.want)
			}
			img := DefaultBaseImages
			if c.family != "" {
				var ok bool
				if img, ok = Families[c.family]; !ok {
					t.Fatalf("no family %q", c.family)
				}
			}
			df, err := Generate(got, c.files, img)
			if err != nil {
				t.Fatal(err)
			}
			golden := filepath.Join("testdata", c.name+".Dockerfile")
			if *update {
				if err := os.WriteFile(golden, []byte(df), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if df != string(want) {
				t.Fatalf("generated Dockerfile differs from %s:\n%s", golden, df)
			}
		})
	}
	if _, err := Detect([]string{"README.md"}); err == nil {
		t.Fatal("a tree without markers was detected")
	}
	custom := DefaultBaseImages
	custom.Static = "registry.local/nginx:1"
	if df, _ := Generate(StackStatic, nil, custom); df == "" || !strings.Contains(df, "FROM registry.local/nginx:1") {
		t.Fatalf("base image setting ignored:\n%s", df)
	}
	// The families differ where they should: every language image and the
	// Go runtime (the static server is nginx's Alpine image in both).
	deb, alp := Families["debian"], Families["alpine"]
	if deb != DefaultBaseImages || deb.Go == alp.Go || deb.GoRuntime == alp.GoRuntime || deb.Node == alp.Node || deb.Python == alp.Python || deb.Ruby == alp.Ruby {
		t.Fatalf("families: debian %+v, alpine %+v", deb, alp)
	}
	for _, im := range []string{alp.Go, alp.GoRuntime, alp.Node, alp.Python, alp.Ruby, alp.Static} {
		if !strings.Contains(im, "alpine") {
			t.Errorf("alpine family image %s is not an Alpine one", im)
		}
	}
}
