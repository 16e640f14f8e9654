package spec

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"golang.org/x/net/idna"
)

// MaxHostnameLength is the longest hostname DNS can carry, in ASCII form.
const MaxHostnameLength = 253

// idnaProfile maps a hostname the way browsers look it up (UTS #46,
// lower-casing, punycode) and checks each label's characters and lengths.
var idnaProfile = idna.New(
	idna.MapForLookup(),
	idna.BidiRule(),
	idna.ValidateLabels(true),
	idna.StrictDomainName(true),
	idna.VerifyDNSLength(true),
	idna.Transitional(false),
)

// Hostname validates a hostname a user gave and returns it in the one form
// the platform stores and routes: lower-case ASCII (punycode for
// international names), no trailing dot. What it accepts is a sequence of
// RFC 1123 labels (letters, digits, inner hyphens, 1-63 characters each),
// at least two of them, 253 characters at most, and never an IP address or
// a wildcard; so nothing it returns can change the structure of a Traefik
// rule or a Swarm label.
func Hostname(s string) (string, error) {
	s = strings.TrimSuffix(strings.TrimSpace(s), ".")
	if len(s) > MaxHostnameLength {
		return "", errors.New("is too long (at most 253 characters)")
	}
	if s == "" {
		return "", errors.New("is empty")
	}
	if strings.Contains(s, "*") {
		return "", errors.New("is a wildcard; add each hostname on its own")
	}
	if _, err := netip.ParseAddr(strings.Trim(s, "[]")); err == nil {
		return "", errors.New("is an IP address, not a hostname")
	}
	ascii, err := idnaProfile.ToASCII(s)
	if err != nil {
		return "", fmt.Errorf("is not a valid hostname: %s", idnaReason(err))
	}
	if len(ascii) > MaxHostnameLength {
		return "", errors.New("is too long (at most 253 characters)")
	}
	labels := strings.Split(ascii, ".")
	if len(labels) < 2 {
		return "", errors.New("needs at least two labels (like example.com)")
	}
	for _, l := range labels {
		if err := checkLabel(l); err != nil {
			return "", fmt.Errorf("label %q %w", l, err)
		}
	}
	if tld := labels[len(labels)-1]; strings.Trim(tld, "0123456789") == "" {
		return "", errors.New("ends in a numeric label, which no top-level domain is")
	}
	return ascii, nil
}

// checkLabel enforces RFC 1123 on one ASCII label, whatever the IDNA
// profile let through.
func checkLabel(l string) error {
	switch {
	case l == "":
		return errors.New("is empty (two dots in a row?)")
	case len(l) > 63:
		return errors.New("is longer than 63 characters")
	case l[0] == '-' || l[len(l)-1] == '-':
		return errors.New("starts or ends with a hyphen")
	}
	for i := 0; i < len(l); i++ {
		c := l[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return fmt.Errorf("has the character %q; only letters, digits and hyphens are allowed", c)
		}
	}
	return nil
}

// idnaReason says why the IDNA profile refused a name without quoting it
// (the library's errors repeat the whole input).
func idnaReason(err error) string {
	switch msg := err.Error(); {
	case strings.Contains(msg, "disallowed rune"), strings.Contains(msg, "invalid rune"):
		return "it has a character no hostname may have (letters, digits, hyphens and dots only)"
	case strings.Contains(msg, "label"):
		return "a label is empty, too long, starts or ends with a hyphen, or has a character no hostname may have"
	default:
		return "it is not a sequence of letters, digits, hyphens and dots"
	}
}

// VerificationRecord names the TXT record that proves control of hostname.
func VerificationRecord(hostname string) string { return "_paas-verify." + hostname }

// VerificationValue is the TXT value that proves control with token.
func VerificationValue(token string) string { return VerificationValuePrefix + token }

// VerificationValuePrefix starts every proof's TXT value; the token follows.
const VerificationValuePrefix = "paas-verify="
