// Package secret seals and opens secrets (env values, sensitive settings,
// join tokens) with AES-256-GCM under the installation's ENCRYPTION_KEY.
package secret

import (
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
)

// ErrKeyFormat says ENCRYPTION_KEY is not a 32-byte key in a known encoding.
var ErrKeyFormat = errors.New("ENCRYPTION_KEY must be 32 bytes written as 64 hex characters or as base64 (generate one with: openssl rand -hex 32)")

// Box seals and opens values; its zero value is unusable, build one with NewBox.
type Box struct {
	aead cipher.AEAD
	// fingerprintKey keys Fingerprint; derived from, but not equal to, the
	// encryption key so the two uses never share key material.
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

// NewBox builds a Box from a 32-byte key.
func NewBox(key []byte) (*Box, error) {
	if len(key) != 32 {
		return nil, ErrKeyFormat
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("aes: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("gcm: %w", err)
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte("paas fingerprint key"))
	return &Box{aead: aead, fingerprintKey: mac.Sum(nil)}, nil
}

// Seal encrypts plaintext; the result is nonce || ciphertext || tag.
func (b *Box) Seal(plaintext []byte) ([]byte, error) {
	nonce := make([]byte, b.aead.NonceSize(), b.aead.NonceSize()+len(plaintext)+b.aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("nonce: %w", err)
	}
	return b.aead.Seal(nonce, nonce, plaintext, nil), nil
}

// Open decrypts a value made by Seal; it fails on tampering or a wrong key.
func (b *Box) Open(sealed []byte) ([]byte, error) {
	n := b.aead.NonceSize()
	if len(sealed) < n+b.aead.Overhead() {
		return nil, errors.New("open secret: value too short")
	}
	out, err := b.aead.Open(nil, sealed[:n], sealed[n:], nil)
	if err != nil {
		return nil, errors.New("open secret: authentication failed (wrong ENCRYPTION_KEY?)")
	}
	return out, nil
}

// Fingerprint is a keyed hash of data: equal inputs give equal fingerprints,
// so releases can be compared without storing or logging secrets in clear.
func (b *Box) Fingerprint(data []byte) string {
	mac := hmac.New(sha256.New, b.fingerprintKey)
	mac.Write(data)
	return hex.EncodeToString(mac.Sum(nil))
}
