package spec

import (
	"strings"
	"testing"
)

func TestCheckGitURL(t *testing.T) {
	cases := []struct {
		url       string
		allowFile bool
		want      string // "" when accepted, else part of the error
	}{
		{"https://git.example.com/acme/web.git", false, ""},
		{"http://git.example.com/acme/web.git", false, ""},
		{"ssh://git@git.example.com/acme/web.git", false, ""},
		{"git://git.example.com/acme/web.git", false, ""},
		{"file:///srv/git/web.git", false, "build_allow_file_urls"},
		{"file:///srv/git/web.git", true, ""},
		{"https://bob:s3cret@git.example.com/acme/web.git", false, "must not hold a password"},
		{"https://oauth2:@git.example.com/acme/web.git", false, "must not hold a password"},
		{"ftp://git.example.com/x", false, "must be an https://"},
		{"git.example.com/acme/web.git", false, "must be an https://"},
		{"https:///acme/web.git", false, "must name a host"},
		{"https://git.example.com/%zz", false, "must be an https://"},
	}
	for _, c := range cases {
		err := CheckGitURL(c.url, c.allowFile)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("CheckGitURL(%q, %v) = %v, want accepted", c.url, c.allowFile, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("CheckGitURL(%q, %v) = %v, want an error containing %q", c.url, c.allowFile, err, c.want)
		}
	}
}
