package cli

import (
	"context"
	"strings"
	"testing"
)

// TestGitCredentialsCommands: set reads the token from stdin (never an
// argument) and prints no token; list shows hosts and usernames only; rm
// removes; a missing username is refused before any request.
func TestGitCredentialsCommands(t *testing.T) {
	t.Parallel()
	me, s := orgAPI(t)
	const token = "glpat-cli-t0ken"
	out, errs, code := me.run(token+"\n", "git-credentials", "set", "Git.Example.com", "--username", "oauth2")
	if code != 0 || out != "git-credential/git.example.com set (username oauth2)\n" || strings.Contains(out+errs, token) {
		t.Fatalf("set: %d %q %q", code, out, errs)
	}
	var n int
	if err := s.Pool.QueryRow(context.Background(), `SELECT count(*) FROM paas_git_credentials WHERE host = 'git.example.com' AND username = 'oauth2'`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("stored credentials: %d, %v", n, err)
	}
	out, errs, code = me.run("", "git-credentials", "list")
	if code != 0 || !strings.Contains(out, "git.example.com") || !strings.Contains(out, "oauth2") || strings.Contains(out, token) {
		t.Fatalf("list: %d %q %q", code, out, errs)
	}
	out, _, code = me.run("", "git-credentials", "list", "-o", "json")
	if code != 0 || !strings.Contains(out, `"host": "git.example.com"`) || strings.Contains(out, token) {
		t.Fatalf("list -o json: %d %q", code, out)
	}
	if _, errs, code = me.run(token+"\n", "git-credentials", "set", "git.example.com"); code == 0 || !strings.Contains(errs, "--username") {
		t.Fatalf("set without --username: %d %q", code, errs)
	}
	if out, errs, code = me.run("", "git-credentials", "rm", "git.example.com"); code != 0 || out != "git-credential/git.example.com removed\n" {
		t.Fatalf("rm: %d %q %q", code, out, errs)
	}
	if _, errs, code = me.run("", "git-credentials", "rm", "git.example.com"); code != 1 || !strings.Contains(errs, "no git credential") {
		t.Fatalf("rm again: %d %q", code, errs)
	}
}
