package spec

import (
	"strings"
	"testing"
)

func TestHostname(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in, want, err string
	}{
		{in: "example.com", want: "example.com"},
		{in: "  WWW.Example.COM. ", want: "www.example.com"},
		{in: "bücher.example", want: "xn--bcher-kva.example"},
		{in: "a-b.c0.example.org", want: "a-b.c0.example.org"},
		{in: "", err: "is empty"},
		{in: "localhost", err: "at least two labels"},
		{in: "*.example.com", err: "wildcard"},
		{in: "10.0.0.1", err: "IP address"},
		{in: "[::1]", err: "IP address"},
		{in: "example.123", err: "numeric label"},
		{in: "-a.example.com", err: "not a valid hostname"},
		{in: "a..example.com", err: "not a valid hostname"},
		{in: "a_b.example.com", err: "not a valid hostname"},
		{in: "a`) || Host(`evil.com", err: "not a valid hostname"},
		{in: "a.com,b.com", err: "not a valid hostname"},
		{in: "a.com b.com", err: "not a valid hostname"},
		{in: "a.com&&b.com", err: "not a valid hostname"},
		{in: "(a.com)", err: "not a valid hostname"},
		{in: strings.Repeat("a", 64) + ".com", err: "not a valid hostname"},
		{in: strings.Repeat("abcdefghi.", 26) + "com", err: "too long"},
	} {
		got, err := Hostname(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("Hostname(%q) = %q, %v; want error containing %q", tc.in, got, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("Hostname(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}
