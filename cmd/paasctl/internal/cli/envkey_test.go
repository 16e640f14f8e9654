package cli

import (
	"strings"
	"testing"
)

// TestCheckEnvKey: env set and env unset refuse, before any request, the
// names the API refuses, saying which name and why.
func TestCheckEnvKey(t *testing.T) {
	cases := []struct {
		key  string
		want string // part of the error; "" for none
	}{
		{"DATABASE_URL", ""},
		{"_X1", ""},
		{strings.Repeat("K", 64), ""},
		{"lower", `variable "lower": key must match [A-Z_][A-Z0-9_]*`},
		{"1A", `variable "1A": key must match`},
		{"A-B", `variable "A-B": key must match`},
		{strings.Repeat("K", 65), "key must be at most 64 characters"},
		{"PORT", `variable "PORT": PORT is reserved: the platform sets it from spec.port`},
	}
	for _, tc := range cases {
		err := checkEnvKey(tc.key)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("checkEnvKey(%q) = %v, want nil", tc.key, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("checkEnvKey(%q) = %v, want an error saying %q", tc.key, err, tc.want)
		}
	}
}
