// Package secret seals and opens secrets (env values, sensitive settings,
// join tokens) with AES-256-GCM under the installation's ENCRYPTION_KEY.
//
// A sealed value (format v1) is
//
//	version (1 byte, 0x01) || key id (8 bytes) || nonce (12) || ciphertext || tag (16)
//
// where the key id names the key that sealed it (see KeyID), and the
// associated data binds it to where it lives (EnvAD, SettingAD): a value
// copied to another app, variable or setting does not open. Values sealed
// before v1 (nonce || ciphertext || tag, no associated data) still open;
// `paasd rotate-key` rewrites them as v1.
package secret

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/google/uuid"
)

// ErrKeyFormat says ENCRYPTION_KEY is not a 32-byte key in a known encoding.
var ErrKeyFormat = errors.New("ENCRYPTION_KEY must be 32 bytes written as 64 hex characters or as base64 (generate one with: openssl rand -hex 32)")

// ErrUnknownKey says a value was sealed under a key the Box does not hold.
var ErrUnknownKey = errors.New("open secret: sealed under a key this process does not have (set ENCRYPTION_KEY_PREVIOUS during a rotation)")

const (
	// version1 is the first byte of a v1 value.
	version1 = 0x01
	// idLen is the length of a key id.
	idLen = 8
	// nonceLen is AES-GCM's standard nonce length.
	nonceLen = 12
	// tagLen is AES-GCM's tag length.
	tagLen = 16
	// headerLen is what precedes the nonce in a v1 value.
	headerLen = 1 + idLen
)

// key is one AES-256-GCM key with its id.
type key struct {
	id   [idLen]byte
	aead cipher.AEAD
	raw  []byte
}

// Box seals and opens values; its zero value is unusable, build one with NewBox.
type Box struct {
	// keys[0] seals; every key opens.
	keys []key
	// fingerprintKey keys Fingerprint; see WithFingerprintKey.
	fingerprintKey []byte
}

// ParseKey decodes ENCRYPTION_KEY from hex or base64 into 32 bytes.
func ParseKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if b, err := hex.DecodeString(s); err == nil && len(b) == 32 {
		return b, nil
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil && len(b) == 32 {
			return b, nil
		}
	}
	return nil, ErrKeyFormat
}

// ParseKeys decodes a comma-separated list of keys (ENCRYPTION_KEY_PREVIOUS);
// empty items are skipped, so "" is no key at all.
func ParseKeys(s string) ([][]byte, error) {
	var keys [][]byte
	for i, item := range strings.Split(s, ",") {
		if strings.TrimSpace(item) == "" {
			continue
		}
		k, err := ParseKey(item)
		if err != nil {
			return nil, fmt.Errorf("key %d of the list: %w", i+1, err)
		}
		keys = append(keys, k)
	}
	return keys, nil
}

// KeyID is the short public name of a key stored in each value it seals: the
// first 8 bytes of HMAC-SHA256(key, "paas key id"), in hex.
func KeyID(k []byte) string {
	id := keyID(k)
	return hex.EncodeToString(id[:])
}

func keyID(k []byte) [idLen]byte {
	mac := hmac.New(sha256.New, k)
	mac.Write([]byte("paas key id"))
	var id [idLen]byte
	copy(id[:], mac.Sum(nil))
	return id
}

// LegacyFingerprintKey is the fingerprint key releases were keyed with before
// installations had their own (derived from ENCRYPTION_KEY); an installation
// adopts it once so existing releases keep their fingerprints.
func LegacyFingerprintKey(k []byte) []byte {
	mac := hmac.New(sha256.New, k)
	mac.Write([]byte("paas fingerprint key"))
	return mac.Sum(nil)
}

// NewBox builds a Box sealing under current and opening what current or any
// of previous sealed (previous keys serve during a key rotation).
func NewBox(current []byte, previous ...[]byte) (*Box, error) {
	b := &Box{}
	for _, raw := range append([][]byte{current}, previous...) {
		if len(raw) != 32 {
			return nil, ErrKeyFormat
		}
		block, err := aes.NewCipher(raw)
		if err != nil {
			return nil, fmt.Errorf("aes: %w", err)
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, fmt.Errorf("gcm: %w", err)
		}
		k := key{id: keyID(raw), aead: aead, raw: bytes.Clone(raw)}
		if b.has(k.id) {
			continue // the same key listed twice
		}
		b.keys = append(b.keys, k)
	}
	b.fingerprintKey = LegacyFingerprintKey(current)
	return b, nil
}

func (b *Box) has(id [idLen]byte) bool {
	for _, k := range b.keys {
		if k.id == id {
			return true
		}
	}
	return false
}

// WithFingerprintKey returns a copy of b whose Fingerprint is keyed by fk, the
// installation's own fingerprint key, which does not change with
// ENCRYPTION_KEY (so a key rotation cuts no release).
func (b *Box) WithFingerprintKey(fk []byte) *Box {
	c := *b
	c.fingerprintKey = bytes.Clone(fk)
	return &c
}

// KeyID is the id of the key b seals under.
func (b *Box) KeyID() string { return hex.EncodeToString(b.keys[0].id[:]) }

// Keys are the raw keys of b, the sealing one first.
func (b *Box) Keys() [][]byte {
	out := make([][]byte, len(b.keys))
	for i, k := range b.keys {
		out[i] = bytes.Clone(k.raw)
	}
	return out
}

// EnvAD is the associated data of app's variable name; a release's snapshot
// holds the variable's sealed value as it was, under the same binding.
func EnvAD(app uuid.UUID, name string) []byte { return []byte("env/" + app.String() + "/" + name) }

// SettingAD is the associated data of a sensitive setting.
func SettingAD(name string) []byte { return []byte("setting/" + name) }

// WebhookAD is the associated data of an app's sealed push-webhook secret.
func WebhookAD(app uuid.UUID) []byte { return []byte("webhook/" + app.String()) }

// GitCredentialAD is the associated data of an organization's sealed git
// token for host (lower case, as stored).
func GitCredentialAD(org uuid.UUID, host string) []byte {
	return []byte("gitcred/" + org.String() + "/" + host)
}

// Seal encrypts plaintext under the current key, bound to ad (see EnvAD,
// SettingAD); the result is in format v1.
func (b *Box) Seal(plaintext, ad []byte) ([]byte, error) {
	k := b.keys[0]
	out := make([]byte, headerLen+nonceLen, headerLen+nonceLen+len(plaintext)+tagLen)
	out[0] = version1
	copy(out[1:], k.id[:])
	nonce := out[headerLen:]
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("nonce: %w", err)
	}
	return k.aead.Seal(out, nonce, plaintext, ad), nil
}

// Open decrypts a value sealed for ad under any key of b; a legacy value
// (before v1, without associated data) opens too. It fails on tampering, a
// wrong binding or an unknown key.
func (b *Box) Open(sealed, ad []byte) ([]byte, error) {
	if len(sealed) < nonceLen+tagLen {
		return nil, errors.New("open secret: value too short")
	}
	v1 := isV1(sealed)
	if v1 {
		if out, ok := b.openV1(sealed, ad); ok {
			return out, nil
		}
	}
	// A legacy value's first byte is its random nonce's, 0x01 once in 256:
	// trying it as legacy after v1 failed is what tells the two apart (a
	// forged match would need to pass GCM's authentication).
	for _, k := range b.keys {
		if out, err := k.aead.Open(nil, sealed[:nonceLen], sealed[nonceLen:], nil); err == nil {
			return out, nil
		}
	}
	if v1 && !b.knows(sealed) {
		return nil, ErrUnknownKey
	}
	return nil, errors.New("open secret: authentication failed (wrong ENCRYPTION_KEY, or a value moved from elsewhere)")
}

func isV1(sealed []byte) bool {
	return len(sealed) >= headerLen+nonceLen+tagLen && sealed[0] == version1
}

// openV1 opens sealed as a v1 value under the key it names.
func (b *Box) openV1(sealed, ad []byte) ([]byte, bool) {
	var id [idLen]byte
	copy(id[:], sealed[1:headerLen])
	for _, k := range b.keys {
		if k.id == id {
			out, err := k.aead.Open(nil, sealed[headerLen:headerLen+nonceLen], sealed[headerLen+nonceLen:], ad)
			return out, err == nil
		}
	}
	return nil, false
}

// knows reports whether sealed names one of b's keys.
func (b *Box) knows(sealed []byte) bool {
	var id [idLen]byte
	copy(id[:], sealed[1:headerLen])
	return b.has(id)
}

// KeyOf returns the raw key among b's that opens sealed (bound to ad).
func (b *Box) KeyOf(sealed, ad []byte) ([]byte, error) {
	for _, k := range b.keys {
		one := &Box{keys: []key{k}}
		if _, err := one.Open(sealed, ad); err == nil {
			return bytes.Clone(k.raw), nil
		}
	}
	_, err := b.Open(sealed, ad)
	return nil, err
}

// Current reports whether sealed is in format v1 under the key b seals with,
// which is what a rotation leaves alone.
func (b *Box) Current(sealed []byte) bool {
	return isV1(sealed) && bytes.Equal(sealed[1:headerLen], b.keys[0].id[:])
}

// Reseal opens sealed (bound to ad) and seals it again under the current key;
// changed is false, and the value returned as it is, when it already was.
func (b *Box) Reseal(sealed, ad []byte) (out []byte, changed bool, err error) {
	if b.Current(sealed) {
		if _, ok := b.openV1(sealed, ad); ok {
			return sealed, false, nil
		}
	}
	plain, err := b.Open(sealed, ad)
	if err != nil {
		return nil, false, err
	}
	out, err = b.Seal(plain, ad)
	return out, err == nil, err
}

// Fingerprint is a keyed hash of data: equal inputs give equal fingerprints,
// so releases can be compared without storing or logging secrets in clear.
func (b *Box) Fingerprint(data []byte) string {
	mac := hmac.New(sha256.New, b.fingerprintKey)
	mac.Write(data)
	return hex.EncodeToString(mac.Sum(nil))
}
