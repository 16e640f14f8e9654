// Package rotate re-seals every secret of an installation under the current
// ENCRYPTION_KEY: env values, the env snapshots of releases and sensitive
// settings, push-webhook secrets and git credentials (what `paasd
// rotate-key` runs).
//
// It works in batches, one transaction each, and skips what is already
// sealed (format v1) under the current key, so a run that stopped midway is
// finished by running it again. Plaintexts do not change: no app gets a new
// generation or release (see store.FingerprintBox and migration 00011).
package rotate

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/google/uuid"

	"github.com/skypanel/paas/store"
	"github.com/skypanel/paas/store/secret"
)

// Kind names one family of sealed values.
type Kind string

// The families Run re-seals, in the order it does.
const (
	// Settings are sensitive paas_settings values (the fingerprint key among them).
	Settings Kind = "settings"
	// EnvVars are paas_env_vars values.
	EnvVars Kind = "env values"
	// Releases are the env snapshots of paas_deployments (counted per value).
	Releases Kind = "release values"
	// WebhookSecrets are the apps' push-webhook secrets (paas_app_sources).
	WebhookSecrets Kind = "webhook secrets"
	// GitCredentials are the organizations' git tokens (paas_git_credentials).
	GitCredentials Kind = "git credentials"
)

// Count is how many values of one kind were looked at and re-sealed.
type Count struct {
	// Seen is every value looked at.
	Seen int
	// Resealed is the values rewritten under the current key; the others
	// already were.
	Resealed int
}

// Report is what a run did, by kind.
type Report map[Kind]*Count

// Progress is called after each committed batch with the totals so far; it
// never receives a value.
type Progress func(kind Kind, c Count)

// Run re-seals everything under box's current key, opening with any of its
// keys, batch rows per transaction. It records the installation's
// fingerprint key first (store.FingerprintBox) so that it derives from the
// old key, as the releases' fingerprints do.
func Run(ctx context.Context, s *store.Store, box *secret.Box, batch int, progress Progress) (Report, error) {
	if batch <= 0 {
		batch = 500
	}
	if progress == nil {
		progress = func(Kind, Count) {}
	}
	rep := Report{Settings: {}, EnvVars: {}, Releases: {}, WebhookSecrets: {}, GitCredentials: {}}
	if _, err := store.FingerprintBox(ctx, s, box); err != nil {
		return rep, err
	}
	if err := settings(ctx, s, box, rep[Settings]); err != nil {
		return rep, err
	}
	progress(Settings, *rep[Settings])
	if err := envVars(ctx, s, box, batch, rep[EnvVars], progress); err != nil {
		return rep, err
	}
	if err := releases(ctx, s, box, batch, rep[Releases], progress); err != nil {
		return rep, err
	}
	if err := webhookSecrets(ctx, s, box, rep[WebhookSecrets]); err != nil {
		return rep, err
	}
	progress(WebhookSecrets, *rep[WebhookSecrets])
	if err := gitCredentials(ctx, s, box, rep[GitCredentials]); err != nil {
		return rep, err
	}
	progress(GitCredentials, *rep[GitCredentials])
	return rep, nil
}

// gitCredentials re-seals the organizations' git tokens in one transaction.
func gitCredentials(ctx context.Context, s *store.Store, box *secret.Box, c *Count) error {
	return resealAll(ctx, s, box, c, "git credentials", (*store.Queries).LockSealedGitCredentials,
		func(r store.LockSealedGitCredentialsRow) ([]byte, []byte, string) {
			return r.TokenEncrypted, secret.GitCredentialAD(r.OrganizationID, r.Host),
				"git credential for " + r.Host + " of organization " + r.OrganizationID.String()
		},
		func(ctx context.Context, q *store.Queries, r store.LockSealedGitCredentialsRow, out []byte) error {
			return q.ResealGitCredential(ctx, store.ResealGitCredentialParams{OrganizationID: r.OrganizationID, Host: r.Host, TokenEncrypted: out})
		})
}

// webhookSecrets re-seals the apps' push-webhook secrets in one transaction.
func webhookSecrets(ctx context.Context, s *store.Store, box *secret.Box, c *Count) error {
	return resealAll(ctx, s, box, c, "webhook secrets", (*store.Queries).LockSealedWebhookSecrets,
		func(r store.LockSealedWebhookSecretsRow) ([]byte, []byte, string) {
			return r.WebhookSecretEncrypted, secret.WebhookAD(r.AppID), "webhook secret of app " + r.AppID.String()
		},
		func(ctx context.Context, q *store.Queries, r store.LockSealedWebhookSecretsRow, out []byte) error {
			return q.ResealWebhookSecret(ctx, store.ResealWebhookSecretParams{AppID: r.AppID, WebhookSecretEncrypted: out})
		})
}

// settings re-seals the sensitive settings, few enough for one transaction.
func settings(ctx context.Context, s *store.Store, box *secret.Box, c *Count) error {
	return resealAll(ctx, s, box, c, "sensitive settings", (*store.Queries).LockSealedSettings,
		func(r store.LockSealedSettingsRow) ([]byte, []byte, string) {
			return r.ValueEncrypted, secret.SettingAD(r.Key), "setting " + r.Key
		},
		func(ctx context.Context, q *store.Queries, r store.LockSealedSettingsRow, out []byte) error {
			return q.ResealSetting(ctx, store.ResealSettingParams{Key: r.Key, ValueEncrypted: out})
		})
}

// resealAll re-seals, in one transaction, every row list locks: sealed
// says a row's value, its associated data and its name for errors; write
// stores the new value. c is set only when the transaction commits.
func resealAll[R any](ctx context.Context, s *store.Store, box *secret.Box, c *Count, what string,
	list func(*store.Queries, context.Context) ([]R, error),
	sealed func(R) (value, ad []byte, name string),
	write func(context.Context, *store.Queries, R, []byte) error,
) error {
	var n Count
	err := s.InTx(ctx, func(q *store.Queries) error {
		n = Count{}
		rows, err := list(q, ctx)
		if err != nil {
			return fmt.Errorf("list %s: %w", what, err)
		}
		for _, r := range rows {
			n.Seen++
			value, ad, name := sealed(r)
			out, changed, err := box.Reseal(value, ad)
			if err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			if !changed {
				continue
			}
			if err := write(ctx, q, r, out); err != nil {
				return fmt.Errorf("write %s: %w", name, err)
			}
			n.Resealed++
		}
		return nil
	})
	if err == nil {
		*c = n
	}
	return err
}

// envVars re-seals env values in batches ordered by (app, key).
func envVars(ctx context.Context, s *store.Store, box *secret.Box, batch int, c *Count, progress Progress) error {
	after := store.LockEnvVarsAfterParams{AfterApp: uuid.Nil, AfterKey: "", Lim: int32(batch)}
	for {
		var n Count
		var rows []store.LockEnvVarsAfterRow
		err := s.InTx(ctx, func(q *store.Queries) error {
			n = Count{}
			if err := q.MarkResealing(ctx); err != nil {
				return fmt.Errorf("mark the transaction: %w", err)
			}
			var err error
			if rows, err = q.LockEnvVarsAfter(ctx, after); err != nil {
				return fmt.Errorf("list env values: %w", err)
			}
			for _, r := range rows {
				n.Seen++
				out, changed, err := box.Reseal(r.ValueEncrypted, secret.EnvAD(r.AppID, r.Key))
				if err != nil {
					return fmt.Errorf("env %s of app %s: %w", r.Key, r.AppID, err)
				}
				if !changed {
					continue
				}
				if err := q.ResealEnvVar(ctx, store.ResealEnvVarParams{AppID: r.AppID, Key: r.Key, ValueEncrypted: out}); err != nil {
					return fmt.Errorf("write env %s of app %s: %w", r.Key, r.AppID, err)
				}
				n.Resealed++
			}
			return nil
		})
		if err != nil {
			return err
		}
		c.Seen, c.Resealed = c.Seen+n.Seen, c.Resealed+n.Resealed
		if len(rows) == 0 {
			return nil
		}
		progress(EnvVars, *c)
		last := rows[len(rows)-1]
		after.AfterApp, after.AfterKey = last.AppID, last.Key
		if len(rows) < batch {
			return nil
		}
	}
}

// releases re-seals the env snapshots of releases in batches ordered by id.
// A snapshot's values are bound to the app's variables they were copied
// from (secret.EnvAD); its other fields are written back untouched.
func releases(ctx context.Context, s *store.Store, box *secret.Box, batch int, c *Count, progress Progress) error {
	after := store.LockDeploymentsAfterParams{AfterID: uuid.Nil, Lim: int32(batch)}
	for {
		var n Count
		var rows []store.LockDeploymentsAfterRow
		err := s.InTx(ctx, func(q *store.Queries) error {
			n = Count{}
			var err error
			if rows, err = q.LockDeploymentsAfter(ctx, after); err != nil {
				return fmt.Errorf("list releases: %w", err)
			}
			for _, r := range rows {
				spec, seen, resealed, err := resealSnapshot(box, r.AppID, r.Spec)
				if err != nil {
					return fmt.Errorf("release %d of app %s: %w", r.Version, r.AppID, err)
				}
				n.Seen, n.Resealed = n.Seen+seen, n.Resealed+resealed
				if resealed == 0 {
					continue
				}
				if err := q.ResealDeployment(ctx, store.ResealDeploymentParams{ID: r.ID, Spec: spec}); err != nil {
					return fmt.Errorf("write release %d of app %s: %w", r.Version, r.AppID, err)
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
		c.Seen, c.Resealed = c.Seen+n.Seen, c.Resealed+n.Resealed
		if len(rows) == 0 {
			return nil
		}
		progress(Releases, *c)
		after.AfterID = rows[len(rows)-1].ID
		if len(rows) < batch {
			return nil
		}
	}
}

// resealSnapshot re-seals the env values of one release snapshot, keeping
// every other field as it is; seen and resealed count values.
func resealSnapshot(box *secret.Box, app uuid.UUID, raw json.RawMessage) (out json.RawMessage, seen, resealed int, err error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil {
		return nil, 0, 0, fmt.Errorf("decode snapshot: %w", err)
	}
	envRaw, ok := fields["env"]
	if !ok || string(envRaw) == "null" {
		return raw, 0, 0, nil
	}
	var env map[string][]byte
	if err := json.Unmarshal(envRaw, &env); err != nil {
		return nil, 0, 0, fmt.Errorf("decode snapshot env: %w", err)
	}
	for k, v := range env {
		seen++
		sealed, changed, err := box.Reseal(v, secret.EnvAD(app, k))
		if err != nil {
			return nil, 0, 0, fmt.Errorf("env %s: %w", k, err)
		}
		if changed {
			env[k] = sealed
			resealed++
		}
	}
	if resealed == 0 {
		return raw, seen, 0, nil
	}
	if fields["env"], err = json.Marshal(env); err != nil {
		return nil, 0, 0, fmt.Errorf("encode snapshot env: %w", err)
	}
	if out, err = json.Marshal(fields); err != nil {
		return nil, 0, 0, fmt.Errorf("encode snapshot: %w", err)
	}
	return out, seen, resealed, nil
}
