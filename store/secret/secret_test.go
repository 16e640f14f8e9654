package secret

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"github.com/google/uuid"
)

func rawKey(fill byte) []byte { return bytes.Repeat([]byte{fill}, 32) }

func testBox(t *testing.T, fill byte, previous ...byte) *Box {
	t.Helper()
	var prev [][]byte
	for _, p := range previous {
		prev = append(prev, rawKey(p))
	}
	b, err := NewBox(rawKey(fill), prev...)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// legacySeal seals as the code before format v1 did: nonce || ciphertext ||
// tag, no associated data.
func legacySeal(t *testing.T, k []byte, nonce []byte, plaintext string) []byte {
	t.Helper()
	block, _ := aes.NewCipher(k)
	aead, _ := cipher.NewGCM(block)
	return aead.Seal(bytes.Clone(nonce), nonce, []byte(plaintext), nil)
}

var (
	appA = uuid.MustParse("11111111-1111-4111-8111-111111111111")
	appB = uuid.MustParse("22222222-2222-4222-8222-222222222222")
)

func TestSealOpenRoundTrip(t *testing.T) {
	t.Parallel()
	b := testBox(t, 7)
	ad := EnvAD(appA, "TOKEN")
	sealed, err := b.Seal([]byte("s3cret"), ad)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, []byte("s3cret")) {
		t.Fatal("sealed value contains the plaintext")
	}
	again, _ := b.Seal([]byte("s3cret"), ad)
	if bytes.Equal(sealed, again) {
		t.Fatal("two seals of one value are equal: nonce reused")
	}
	got, err := b.Open(sealed, ad)
	if err != nil || string(got) != "s3cret" {
		t.Fatalf("Open = %q, %v", got, err)
	}
}

// TestValueCarriesVersionAndKeyID: a v1 value starts with its version and
// the id of the key that sealed it.
func TestValueCarriesVersionAndKeyID(t *testing.T) {
	t.Parallel()
	b := testBox(t, 7)
	sealed, _ := b.Seal([]byte("x"), SettingAD("s"))
	if sealed[0] != version1 || hex.EncodeToString(sealed[1:9]) != KeyID(rawKey(7)) || b.KeyID() != KeyID(rawKey(7)) {
		t.Fatalf("header %x, want 01 then key id %s", sealed[:9], KeyID(rawKey(7)))
	}
	if len(sealed) != 1+8+12+1+16 {
		t.Fatalf("len %d", len(sealed))
	}
	if KeyID(rawKey(7)) == KeyID(rawKey(8)) || len(KeyID(rawKey(7))) != 16 {
		t.Fatal("key ids not distinct 8-byte names")
	}
}

// TestMovedValueDoesNotOpen: the associated data binds a value to its app
// and variable, or its setting.
func TestMovedValueDoesNotOpen(t *testing.T) {
	t.Parallel()
	b := testBox(t, 7)
	sealed, _ := b.Seal([]byte("v"), EnvAD(appA, "TOKEN"))
	for name, ad := range map[string][]byte{
		"another app":        EnvAD(appB, "TOKEN"),
		"another variable":   EnvAD(appA, "OTHER"),
		"a setting":          SettingAD("TOKEN"),
		"no associated data": nil,
	} {
		if _, err := b.Open(sealed, ad); err == nil {
			t.Errorf("%s: a value moved there opened", name)
		}
	}
	s, _ := b.Seal([]byte("v"), SettingAD("smtp_password"))
	if _, err := b.Open(s, SettingAD("s3_secret")); err == nil {
		t.Error("a setting moved to another key opened")
	}
}

func TestOpenRejectsTamperingAndWrongKey(t *testing.T) {
	t.Parallel()
	b := testBox(t, 7)
	ad := EnvAD(appA, "K")
	sealed, _ := b.Seal([]byte("value"), ad)
	for i := range sealed {
		tampered := bytes.Clone(sealed)
		tampered[i] ^= 1
		if _, err := b.Open(tampered, ad); err == nil {
			t.Fatalf("value tampered at byte %d opened", i)
		}
	}
	if _, err := testBox(t, 8).Open(sealed, ad); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("value of an unknown key: error %v, want ErrUnknownKey", err)
	}
	if _, err := b.Open([]byte("x"), ad); err == nil {
		t.Fatal("short value opened")
	}
}

// TestPreviousKeysOpen: during a rotation the Box seals under the new key
// and opens what the old one sealed; Reseal moves a value to the new key once.
func TestPreviousKeysOpen(t *testing.T) {
	t.Parallel()
	old, rotating := testBox(t, 1), testBox(t, 2, 1)
	ad := EnvAD(appA, "TOKEN")
	sealed, _ := old.Seal([]byte("v"), ad)
	if got, err := rotating.Open(sealed, ad); err != nil || string(got) != "v" {
		t.Fatalf("rotating box: Open = %q, %v", got, err)
	}
	if rotating.Current(sealed) || !old.Current(sealed) {
		t.Fatal("Current does not tell the sealing key")
	}
	moved, changed, err := rotating.Reseal(sealed, ad)
	if err != nil || !changed || !rotating.Current(moved) {
		t.Fatalf("Reseal = changed %v, %v", changed, err)
	}
	if got, err := testBox(t, 2).Open(moved, ad); err != nil || string(got) != "v" {
		t.Fatalf("new key alone: Open = %q, %v", got, err)
	}
	if again, changed, err := rotating.Reseal(moved, ad); err != nil || changed || !bytes.Equal(again, moved) {
		t.Fatalf("second Reseal changed %v, %v", changed, err)
	}
	if _, _, err := rotating.Reseal(moved, EnvAD(appB, "TOKEN")); err == nil {
		t.Fatal("Reseal under another binding succeeded")
	}
}

// TestLegacyValuesOpen: values sealed before format v1 (no version, no key
// id, no associated data) still open, under the current or a previous key,
// even when their random nonce starts like a v1 header; Reseal upgrades them.
func TestLegacyValuesOpen(t *testing.T) {
	t.Parallel()
	idOf7, _ := hex.DecodeString(KeyID(rawKey(7)))
	for _, tc := range []struct {
		name  string
		key   byte
		nonce []byte
		box   *Box
	}{
		{"plain nonce", 7, bytes.Repeat([]byte{0x42}, 12), testBox(t, 7)},
		{"nonce starting with 0x01", 7, append([]byte{0x01}, bytes.Repeat([]byte{0x42}, 11)...), testBox(t, 7)},
		{"nonce starting like a v1 header of the key", 7, append(append([]byte{0x01}, idOf7...), 0, 0, 0), testBox(t, 7)},
		{"previous key", 7, bytes.Repeat([]byte{0x42}, 12), testBox(t, 9, 7)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			legacy := legacySeal(t, rawKey(tc.key), tc.nonce, "old value")
			got, err := tc.box.Open(legacy, EnvAD(appA, "TOKEN"))
			if err != nil || string(got) != "old value" {
				t.Fatalf("Open = %q, %v", got, err)
			}
			up, changed, err := tc.box.Reseal(legacy, EnvAD(appA, "TOKEN"))
			if err != nil || !changed || !tc.box.Current(up) {
				t.Fatalf("Reseal = changed %v, %v", changed, err)
			}
			if _, err := tc.box.Open(up, EnvAD(appB, "TOKEN")); err == nil {
				t.Fatal("the upgraded value opens under another binding")
			}
		})
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

func TestParseKeys(t *testing.T) {
	t.Parallel()
	a, b := strings.Repeat("ab", 32), strings.Repeat("cd", 32)
	for _, tc := range []struct {
		in   string
		want int
		bad  bool
	}{
		{"", 0, false}, {a, 1, false}, {a + "," + b, 2, false}, {" " + a + " , ," + b + ",", 2, false}, {a + ",short", 0, true},
	} {
		got, err := ParseKeys(tc.in)
		if (err != nil) != tc.bad || len(got) != tc.want {
			t.Errorf("ParseKeys(%q) = %d keys, %v", tc.in, len(got), err)
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
	// With the installation's fingerprint key, the encryption key no longer matters.
	fk := bytes.Repeat([]byte{5}, 32)
	if a.WithFingerprintKey(fk).Fingerprint([]byte("x")) != b.WithFingerprintKey(fk).Fingerprint([]byte("x")) {
		t.Fatal("fingerprint depends on ENCRYPTION_KEY despite the installation's fingerprint key")
	}
	if a.Fingerprint([]byte("x")) != a.WithFingerprintKey(LegacyFingerprintKey(rawKey(1))).Fingerprint([]byte("x")) {
		t.Fatal("legacy fingerprint key differs from what a Box derived before")
	}
}
