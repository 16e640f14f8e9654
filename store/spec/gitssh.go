package spec

import (
	"crypto/hmac"
	"crypto/sha1" // known_hosts hashes host names with HMAC-SHA1: it is their format
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// Limits of an SSH git credential's parts.
const (
	MaxDeployKeyBytes  = 16 << 10
	MaxKnownHostsBytes = 64 << 10
	MaxPinnedHostKeys  = 32
)

// ErrKeyPassphrase says an SSH private key is encrypted: the build runner
// has no one to ask for its passphrase.
var ErrKeyPassphrase = errors.New("is protected by a passphrase: give the key without one (ssh-keygen -p -N '' -f KEY removes it from a copy), and keep it to this one repository as a deploy key")

// ParseDeployKey parses the private key of an SSH git credential. Its
// errors never quote the key.
func ParseDeployKey(pemText string) (ssh.Signer, error) {
	if strings.TrimSpace(pemText) == "" {
		return nil, errors.New("is required: an OpenSSH or PEM private key")
	}
	if len(pemText) > MaxDeployKeyBytes {
		return nil, fmt.Errorf("is over %d bytes", MaxDeployKeyBytes)
	}
	signer, err := ssh.ParsePrivateKey([]byte(pemText))
	var missing *ssh.PassphraseMissingError
	if errors.As(err, &missing) {
		return nil, ErrKeyPassphrase
	}
	if err != nil {
		// Never err's text: it is about the key's bytes.
		return nil, errors.New("is not an SSH private key (OpenSSH or PEM: ed25519, ecdsa or rsa, as ssh-keygen writes it)")
	}
	return signer, nil
}

// PinnedHostKeys parses the host keys an SSH git credential pins for host
// (as stored: lower case, with a port or none, which means 22). Each
// non-blank line that is no # comment is either a bare public key
// ("ssh-ed25519 AAAA… [comment]", as in the host's ssh_host_*_key.pub) or
// a known_hosts line ("HOSTS ssh-ed25519 AAAA…", as ssh-keyscan prints it)
// whose host patterns (plain, wildcard or hashed) match host. Markers
// (@cert-authority, @revoked) are refused: only keys are pinned.
func PinnedHostKeys(host, text string) ([]ssh.PublicKey, error) {
	if strings.TrimSpace(text) == "" {
		return nil, errors.New("is required: the host's public key line(s), as ssh-keyscan " + strings.Split(host, ":")[0] + " prints them")
	}
	if len(text) > MaxKnownHostsBytes {
		return nil, fmt.Errorf("is over %d bytes", MaxKnownHostsBytes)
	}
	want := knownhosts.Normalize(host)
	var keys []ssh.PublicKey
	for i, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		n := i + 1
		if key, _, opts, _, err := ssh.ParseAuthorizedKey([]byte(line)); err == nil && len(opts) == 0 {
			keys = append(keys, key)
			continue
		}
		marker, hosts, key, _, _, err := ssh.ParseKnownHosts([]byte(line))
		if err != nil {
			return nil, fmt.Errorf("line %d is neither a public key (ssh-ed25519 AAAA…) nor a known_hosts line (HOST ssh-ed25519 AAAA…)", n)
		}
		if marker != "" {
			return nil, fmt.Errorf("line %d: @%s lines are not supported: pin the host's own keys", n, marker)
		}
		if !hostsMatch(hosts, want) {
			return nil, fmt.Errorf("line %d is for %s, not %s", n, strings.Join(hosts, ","), want)
		}
		keys = append(keys, key)
	}
	if len(keys) == 0 {
		return nil, errors.New("holds no key: give the host's public key line(s), as ssh-keyscan prints them")
	}
	if len(keys) > MaxPinnedHostKeys {
		return nil, fmt.Errorf("holds more than %d keys", MaxPinnedHostKeys)
	}
	return keys, nil
}

// HostKeyFingerprints are the SHA256 fingerprints (SHA256:…) of keys.
func HostKeyFingerprints(keys []ssh.PublicKey) []string {
	out := make([]string, 0, len(keys))
	for _, k := range keys {
		out = append(out, ssh.FingerprintSHA256(k))
	}
	return out
}

// hostsMatch says whether known_hosts patterns match the normalized host
// want (host, or [host]:port): one pattern matches and no negated one does.
func hostsMatch(patterns []string, want string) bool {
	matched := false
	for _, p := range patterns {
		neg := strings.HasPrefix(p, "!")
		p = strings.TrimPrefix(p, "!")
		var ok bool
		if strings.HasPrefix(p, "|1|") {
			ok = hashedMatch(p, want)
		} else {
			ok = wildcardMatch(strings.ToLower(p), want)
		}
		if ok && neg {
			return false
		}
		matched = matched || ok
	}
	return matched
}

// hashedMatch checks a hashed known_hosts pattern: |1|base64(salt)|base64(HMAC-SHA1(salt, host)).
func hashedMatch(p, want string) bool {
	parts := strings.Split(p, "|")
	if len(parts) != 4 {
		return false
	}
	salt, err1 := base64.StdEncoding.DecodeString(parts[2])
	sum, err2 := base64.StdEncoding.DecodeString(parts[3])
	if err1 != nil || err2 != nil {
		return false
	}
	mac := hmac.New(sha1.New, salt)
	mac.Write([]byte(want))
	return hmac.Equal(mac.Sum(nil), sum)
}

// wildcardMatch matches s against an OpenSSH pattern: * any run, ? one
// character, everything else itself ([ and ] included: "[host]:2222").
func wildcardMatch(p, s string) bool {
	for len(p) > 0 {
		switch p[0] {
		case '*':
			for i := len(s); i >= 0; i-- {
				if wildcardMatch(p[1:], s[i:]) {
					return true
				}
			}
			return false
		case '?':
			if s == "" {
				return false
			}
			p, s = p[1:], s[1:]
		default:
			if s == "" || p[0] != s[0] {
				return false
			}
			p, s = p[1:], s[1:]
		}
	}
	return s == ""
}
