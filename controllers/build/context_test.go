package build

import (
	"archive/tar"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeTree(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func readTar(t *testing.T, r io.Reader) map[string]string {
	t.Helper()
	got := map[string]string{}
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return got
		}
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			got[h.Name] = string(b)
		}
	}
}

// TestTarContext: the context holds the tree's files but .git, plus the
// generated Dockerfile; a tree over the cap is refused before anything
// is streamed, naming the setting.
func TestTarContext(t *testing.T) {
	dir := writeTree(t, map[string]string{
		"index.html": "<h1>hi</h1>", "sub/a.txt": "a", ".git/config": "[core]", ".git/objects/x": "secret history",
	})
	rc, err := tarContext(dir, ".paas.Dockerfile", "FROM x\n", 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	got := readTar(t, rc)
	rc.Close()
	want := map[string]string{"index.html": "<h1>hi</h1>", "sub/a.txt": "a", ".paas.Dockerfile": "FROM x\n"}
	if len(got) != len(want) {
		t.Fatalf("context files %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Fatalf("context %q = %q, want %q (all: %v)", k, got[k], v, got)
		}
	}

	big := writeTree(t, map[string]string{"blob": strings.Repeat("x", 3<<20), ".git/pack": strings.Repeat("y", 8<<20)})
	rc, err = tarContext(big, "Dockerfile", "", 4<<20)
	if err != nil {
		t.Fatalf("3 MiB of files (and 8 MiB of .git) under a 4 MiB cap: %v", err)
	}
	rc.Close() // unread: closing stops the writer
	_, err = tarContext(big, "Dockerfile", "", 2<<20)
	if err == nil || !strings.Contains(err.Error(), "3 MiB, more than the 2 MiB allowed (build_context_max_mb)") {
		t.Fatalf("3 MiB under a 2 MiB cap: %v", err)
	}
}
