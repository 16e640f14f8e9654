package secret

import (
	"bytes"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
)

func testBox(t *testing.T, fill byte) *Box {
	t.Helper()
	b, err := NewBox(bytes.Repeat([]byte{fill}, 32))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestSealOpenRoundTrip(t *testing.T) {
	t.Parallel()
	b := testBox(t, 7)
	sealed, err := b.Seal([]byte("s3cret"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, []byte("s3cret")) {
		t.Fatal("sealed value contains the plaintext")
	}
	again, _ := b.Seal([]byte("s3cret"))
	if bytes.Equal(sealed, again) {
		t.Fatal("two seals of one value are equal: nonce reused")
	}
	got, err := b.Open(sealed)
	if err != nil || string(got) != "s3cret" {
		t.Fatalf("Open = %q, %v", got, err)
	}
}

func TestOpenRejectsTamperingAndWrongKey(t *testing.T) {
	t.Parallel()
	b := testBox(t, 7)
	sealed, _ := b.Seal([]byte("value"))
	tampered := append([]byte(nil), sealed...)
	tampered[len(tampered)-1] ^= 1
	if _, err := b.Open(tampered); err == nil {
		t.Fatal("tampered value opened")
	}
	if _, err := testBox(t, 8).Open(sealed); err == nil {
		t.Fatal("value opened with another key")
	}
	if _, err := b.Open([]byte("x")); err == nil {
		t.Fatal("short value opened")
	}
}

func TestParseKey(t *testing.T) {
	t.Parallel()
	raw := bytes.Repeat([]byte{0xab}, 32)
	for name, in := range map[string]string{
		"hex":    strings.Repeat("ab", 32),
		"base64": base64.StdEncoding.EncodeToString(raw),
		"padded": "  " + strings.Repeat("ab", 32) + "\n",
	} {
		got, err := ParseKey(in)
		if err != nil || !bytes.Equal(got, raw) {
			t.Errorf("%s: ParseKey = %x, %v", name, got, err)
		}
	}
	for _, bad := range []string{"", "short", strings.Repeat("ab", 31)} {
		if _, err := ParseKey(bad); !errors.Is(err, ErrKeyFormat) {
			t.Errorf("ParseKey(%q) error = %v, want ErrKeyFormat", bad, err)
		}
	}
}

func TestFingerprintIsKeyedAndStable(t *testing.T) {
	t.Parallel()
	a, b := testBox(t, 1), testBox(t, 2)
	if a.Fingerprint([]byte("x")) != a.Fingerprint([]byte("x")) {
		t.Fatal("fingerprint not stable")
	}
	if a.Fingerprint([]byte("x")) == a.Fingerprint([]byte("y")) {
		t.Fatal("different inputs share a fingerprint")
	}
	if a.Fingerprint([]byte("x")) == b.Fingerprint([]byte("x")) {
		t.Fatal("fingerprint does not depend on the key")
	}
}
