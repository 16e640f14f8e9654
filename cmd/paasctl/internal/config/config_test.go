package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) Getenv { return func(k string) string { return m[k] } }

func TestPath(t *testing.T) {
	cases := []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"PAASCTL_CONFIG": "/x/c.yaml", "XDG_CONFIG_HOME": "/xdg"}, "/x/c.yaml"},
		{map[string]string{"XDG_CONFIG_HOME": "/xdg", "HOME": "/home/u"}, "/xdg/paasctl/config.yaml"},
		{map[string]string{"HOME": "/home/u"}, "/home/u/.config/paasctl/config.yaml"},
	}
	for _, c := range cases {
		got, err := Path(env(c.env))
		if err != nil || got != c.want {
			t.Errorf("Path(%v) = %q, %v; want %q", c.env, got, err, c.want)
		}
	}
}

func TestSaveIsPrivateAndRoundTrips(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "cfg", "paasctl", "config.yaml")
	exp := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	in := &Config{Server: "http://127.0.0.1:8080", Token: "secret", TokenExpiresAt: &exp, Email: "a@b.c", Organization: "acme"}
	if err := Save(path, in); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("file mode %v, %v", st.Mode(), err)
	}
	if st, _ := os.Stat(filepath.Dir(path)); st.Mode().Perm() != 0o700 {
		t.Fatalf("dir mode %v", st.Mode())
	}
	out, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if out.Server != in.Server || out.Token != in.Token || !out.TokenExpiresAt.Equal(exp) || out.Email != in.Email || out.Organization != in.Organization {
		t.Fatalf("round trip: %+v", out)
	}
	// Saving again replaces the file and keeps it private.
	in.Token = ""
	if err := Save(path, in); err != nil {
		t.Fatal(err)
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
		t.Fatalf("mode after rewrite %v", st.Mode())
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Fatalf("temporary files left: %v", entries)
	}
}

func TestLoadMissingAndBroken(t *testing.T) {
	dir := t.TempDir()
	c, err := Load(filepath.Join(dir, "none.yaml"))
	if err != nil || *c != (Config{}) {
		t.Fatalf("missing file: %+v %v", c, err)
	}
	p := filepath.Join(dir, "bad.yaml")
	os.WriteFile(p, []byte("server: x\nsurprise: 1\n"), 0o600)
	_, err = Load(p)
	if err == nil || !strings.Contains(err.Error(), "is not a paasctl configuration") || strings.Contains(err.Error(), "\n") {
		t.Fatalf("broken file: %v", err)
	}
}
