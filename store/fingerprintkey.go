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
	GetSetting(ctx context.Context, key string) (Setting, error)
	SampleEnvVar(ctx context.Context) ([]SampleEnvVarRow, error)
}

// FingerprintBox returns box with its fingerprints keyed by the
// installation's fingerprint key (secret.Box.WithFingerprintKey), which does
// not change when ENCRYPTION_KEY does, so a key rotation cuts no release.
//
// The first call on a database records the key: the one releases were keyed
// with before installations had their own, derived from the key that sealed
// the env values (whichever of box's keys opens one; the current key when
// there is none), so existing releases keep their fingerprints. It records
// nothing when no key of box opens them.
func FingerprintBox(ctx context.Context, q FingerprintKeyStore, box *secret.Box) (*secret.Box, error) {
	ad := secret.SettingAD(FingerprintKeySetting)
	stored, err := q.GetSetting(ctx, FingerprintKeySetting)
	switch {
	case err == nil:
		return openFingerprintKey(box, stored.ValueEncrypted)
	case !IsNotFound(err):
		return nil, fmt.Errorf("read the fingerprint key: %w", err)
	}
	from := box.Keys()[0]
	sample, err := q.SampleEnvVar(ctx)
	if err != nil {
		return nil, fmt.Errorf("read an env value: %w", err)
	}
	for _, v := range sample {
		if from, err = box.KeyOf(v.ValueEncrypted, secret.EnvAD(v.AppID, v.Key)); err != nil {
			return nil, fmt.Errorf("learn which key sealed env %s of app %s: %w", v.Key, v.AppID, err)
		}
	}
	seed, err := box.Seal(secret.LegacyFingerprintKey(from), ad)
	if err != nil {
		return nil, err
	}
	sealed, err := q.InsertSealedSettingIfAbsent(ctx, InsertSealedSettingIfAbsentParams{Key: FingerprintKeySetting, ValueEncrypted: seed})
	if err != nil {
		return nil, fmt.Errorf("record the fingerprint key: %w", err)
	}
	return openFingerprintKey(box, sealed)
}

func openFingerprintKey(box *secret.Box, sealed []byte) (*secret.Box, error) {
	fk, err := box.Open(sealed, secret.SettingAD(FingerprintKeySetting))
	if err != nil {
		return nil, fmt.Errorf("open the installation's fingerprint key: %w", err)
	}
	return box.WithFingerprintKey(fk), nil
}
