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
		name  string
		files []string
		want  Stack
	}{
		{"dockerfile", []string{"Dockerfile", "go.mod", "main.go"}, StackDockerfile},
		{"go", []string{"go.mod", "go.sum", "main.go"}, StackGo},
		{"node", []string{"package.json", "index.js", "index.html"}, StackNode},
		{"python-requirements", []string{"requirements.txt", "app.py"}, StackPython},
		{"python-pyproject", []string{"pyproject.toml", "app.py"}, StackPython},
		{"ruby", []string{"Gemfile", "Gemfile.lock", "config.ru"}, StackRuby},
		{"static", []string{"index.html", "style.css"}, StackStatic},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := Detect(c.files)
			if err != nil || got != c.want {
				t.Fatalf("Detect(%v) = %q, %v; want %q", c.files, got, err, c.want)
			}
			df, err := Generate(got, c.files, DefaultBaseImages)
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
}
