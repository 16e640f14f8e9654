package store

import (
	"context"
	"fmt"

	"github.com/skypanel/paas/store/secret"
)

// FingerprintKeySetting is the paas_settings key holding the installation's
// release fingerprint key, sealed like any sensitive setting.
const FingerprintKeySetting = "fingerprint_key"

// FingerprintKeyStore is what FingerprintBox reads and writes; *Queries and
// *Store satisfy it.
type FingerprintKeyStore interface {
	InsertSealedSettingIfAbsent(ctx context.Context, arg InsertSealedSettingIfAbsentParams) ([]byte, error)
}

// FingerprintBox returns box with its fingerprints keyed by the
// installation's fingerprint key (secret.Box.WithFingerprintKey), which does
// not change when ENCRYPTION_KEY does, so a key rotation cuts no release.
//
// The first call on a database records the key: the one releases were keyed
// with before installations had their own, derived from the oldest key box
// holds (the last of ENCRYPTION_KEY_PREVIOUS, else ENCRYPTION_KEY), so
// existing releases keep their fingerprints.
func FingerprintBox(ctx context.Context, q FingerprintKeyStore, box *secret.Box) (*secret.Box, error) {
	keys := box.Keys()
	ad := secret.SettingAD(FingerprintKeySetting)
	seed, err := box.Seal(secret.LegacyFingerprintKey(keys[len(keys)-1]), ad)
	if err != nil {
		return nil, err
	}
	stored, err := q.InsertSealedSettingIfAbsent(ctx, InsertSealedSettingIfAbsentParams{Key: FingerprintKeySetting, ValueEncrypted: seed})
	if err != nil {
		return nil, fmt.Errorf("record the fingerprint key: %w", err)
	}
	fk, err := box.Open(stored, ad)
	if err != nil {
		return nil, fmt.Errorf("open the installation's fingerprint key: %w", err)
	}
	return box.WithFingerprintKey(fk), nil
}
