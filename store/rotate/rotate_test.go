package rotate_test

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/skypanel/paas/store"
	"github.com/skypanel/paas/store/rotate"
	"github.com/skypanel/paas/store/secret"
	"github.com/skypanel/paas/store/storetest"
)

func newKey() []byte {
	k := make([]byte, 32)
	_, _ = rand.Read(k)
	return k
}

// legacySeal seals as paasd did before format v1: nonce || ciphertext ||
// tag, no associated data.
func legacySeal(k []byte, plaintext string) []byte {
	block, _ := aes.NewCipher(k)
	aead, _ := cipher.NewGCM(block)
	nonce := make([]byte, aead.NonceSize())
	_, _ = rand.Read(nonce)
	return aead.Seal(nonce, nonce, []byte(plaintext), nil)
}

// world is an installation whose secrets were sealed under oldKey, some in
// the legacy format.
type world struct {
	t      *testing.T
	ctx    context.Context
	s      *store.Store
	oldKey []byte
	apps   []store.App
	// want maps where a value lives to its plaintext.
	env      map[uuid.UUID]map[string]string
	settings map[string]string
	release  store.Deployment
}

func newWorld(t *testing.T) *world {
	t.Helper()
	ctx := context.Background()
	s := storetest.New(t)
	w := &world{t: t, ctx: ctx, s: s, oldKey: newKey(), env: map[uuid.UUID]map[string]string{}, settings: map[string]string{}}
	old, _ := secret.NewBox(w.oldKey)
	org, err := s.CreateOrganization(ctx, store.CreateOrganizationParams{Name: "Acme", Slug: "acme"})
	if err != nil {
		t.Fatal(err)
	}
	plan, err := s.GetPlanByName(ctx, "hobby")
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		name := fmt.Sprintf("app%d", i)
		a, err := s.CreateApp(ctx, store.CreateAppParams{OrganizationID: org.ID, Name: name, ServiceName: "t-" + name,
			Image: "paas-testapp:v1", Replicas: 1, Port: 8080, Command: []string{}, PlanID: plan.ID})
		if err != nil {
			t.Fatal(err)
		}
		w.apps = append(w.apps, a)
		w.env[a.ID] = map[string]string{}
		for j := range 3 {
			k, v := fmt.Sprintf("VAR_%d", j), fmt.Sprintf("s3cret-%d-%d", i, j)
			sealed := legacySeal(w.oldKey, v) // the first of each app as sealed before v1
			if j > 0 {
				sealed, _ = old.Seal([]byte(v), secret.EnvAD(a.ID, k))
			}
			if err := s.UpsertEnvVar(ctx, store.UpsertEnvVarParams{AppID: a.ID, Key: k, ValueEncrypted: sealed}); err != nil {
				t.Fatal(err)
			}
			w.env[a.ID][k] = v
		}
	}
	// A release of app0 copying its env values as they were, with a field
	// this code does not know.
	vars, _ := s.ListEnvVars(ctx, w.apps[0].ID)
	snap := map[string]any{"image": "paas-testapp:v1", "fingerprint": "fp-1", "future_field": "kept", "env": map[string][]byte{}}
	for _, v := range vars {
		snap["env"].(map[string][]byte)[v.Key] = v.ValueEncrypted
	}
	raw, _ := json.Marshal(snap)
	app0, _ := s.GetApp(ctx, w.apps[0].ID)
	if w.release, err = s.CreateDeployment(ctx, store.CreateDeploymentParams{AppID: app0.ID, Generation: app0.Generation, Spec: raw,
		Image: "paas-testapp:v1", ImageResolved: "sha256:" + strings.Repeat("ab", 32)}); err != nil {
		t.Fatal(err)
	}
	// Sensitive settings (one legacy) and a plain one.
	for k, v := range map[string]string{"smtp_password": "m4il-pass", "node_join_token": "SWMTKN-s3cret"} {
		sealed, _ := old.Seal([]byte(v), secret.SettingAD(k))
		if k == "node_join_token" {
			sealed = legacySeal(w.oldKey, v)
		}
		if err := s.PutSetting(ctx, store.PutSettingParams{Key: k, ValueEncrypted: sealed, Sensitive: true}); err != nil {
			t.Fatal(err)
		}
		w.settings[k] = v
	}
	return w
}

// generations are the apps' generations and env revisions.
func (w *world) generations() string {
	var out []string
	for _, a := range w.apps {
		got, err := w.s.GetApp(w.ctx, a.ID)
		if err != nil {
			w.t.Fatal(err)
		}
		out = append(out, fmt.Sprintf("%d/%d", got.Generation, got.EnvRevision))
	}
	return strings.Join(out, " ")
}

// check asserts every secret is sealed (v1) under box's current key and
// opens to its plaintext with that key alone.
func (w *world) check(newKey []byte) {
	w.t.Helper()
	only, _ := secret.NewBox(newKey)
	for _, a := range w.apps {
		vars, err := w.s.ListEnvVars(w.ctx, a.ID)
		if err != nil {
			w.t.Fatal(err)
		}
		for _, v := range vars {
			got, err := only.Open(v.ValueEncrypted, secret.EnvAD(a.ID, v.Key))
			if err != nil || string(got) != w.env[a.ID][v.Key] || !only.Current(v.ValueEncrypted) {
				w.t.Errorf("env %s of %s: %q, %v", v.Key, a.Name, got, err)
			}
		}
	}
	d, err := w.s.GetDeploymentByVersion(w.ctx, store.GetDeploymentByVersionParams{AppID: w.release.AppID, Version: w.release.Version})
	if err != nil {
		w.t.Fatal(err)
	}
	var snap struct {
		Fingerprint string            `json:"fingerprint"`
		Future      string            `json:"future_field"`
		Env         map[string][]byte `json:"env"`
	}
	if err := json.Unmarshal(d.Spec, &snap); err != nil || snap.Fingerprint != "fp-1" || snap.Future != "kept" || len(snap.Env) != 3 {
		w.t.Errorf("release snapshot %s, %v: other fields must stay as they were", d.Spec, err)
	}
	for k, v := range snap.Env {
		got, err := only.Open(v, secret.EnvAD(w.release.AppID, k))
		if err != nil || string(got) != w.env[w.release.AppID][k] || !only.Current(v) {
			w.t.Errorf("release env %s: %q, %v", k, got, err)
		}
	}
	for k, want := range w.settings {
		st, err := w.s.GetSetting(w.ctx, k)
		if err != nil {
			w.t.Fatal(err)
		}
		if got, err := only.Open(st.ValueEncrypted, secret.SettingAD(k)); err != nil || string(got) != want {
			w.t.Errorf("setting %s: %q, %v", k, got, err)
		}
	}
	st, err := w.s.GetSetting(w.ctx, store.FingerprintKeySetting)
	if err != nil {
		w.t.Fatal(err)
	}
	if _, err := only.Open(st.ValueEncrypted, secret.SettingAD(store.FingerprintKeySetting)); err != nil {
		w.t.Errorf("fingerprint key: %v", err)
	}
}

// TestRotateResealsEverythingOnce: a run re-seals every env value, release
// value and sensitive setting under the new key (legacy ones included),
// changes no app's generation, and a second run re-seals nothing.
func TestRotateResealsEverythingOnce(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	before := w.generations()
	newKey := newKey()
	box, _ := secret.NewBox(newKey, w.oldKey)
	old, _ := secret.NewBox(w.oldKey)
	fp, err := store.FingerprintBox(w.ctx, w.s, old) // what paasd serve recorded before the rotation
	if err != nil {
		t.Fatal(err)
	}
	// An app's push-webhook secret, sealed under the old key.
	hook, err := old.Seal([]byte("hook-secret"), secret.WebhookAD(w.release.AppID))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.s.UpsertAppSource(w.ctx, store.UpsertAppSourceParams{AppID: w.release.AppID, GitUrl: "https://git.example.com/x.git",
		GitRef: "main", Dockerfile: "Dockerfile", Builder: "dockerfile", WebhookSecretEncrypted: hook}); err != nil {
		t.Fatal(err)
	}
	// An organization's git token, sealed under the old key.
	orgID := w.apps[0].OrganizationID
	tok, err := old.Seal([]byte("git-token"), secret.GitCredentialAD(orgID, "git.example.com"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.s.UpsertGitCredential(w.ctx, store.UpsertGitCredentialParams{OrganizationID: orgID, Host: "git.example.com",
		Username: "ci", TokenEncrypted: tok, Kind: "token"}); err != nil {
		t.Fatal(err)
	}
	// And its SSH deploy key for another host: the private key is sealed
	// in the same column, so it is re-sealed the same way.
	const sshKey = "-----BEGIN OPENSSH PRIVATE KEY-----\nnot-a-real-key\n-----END OPENSSH PRIVATE KEY-----\n"
	sealedKey, err := old.Seal([]byte(sshKey), secret.GitCredentialAD(orgID, "ssh.example.com"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.s.UpsertGitCredential(w.ctx, store.UpsertGitCredentialParams{OrganizationID: orgID, Host: "ssh.example.com",
		Username: "git", TokenEncrypted: sealedKey, Kind: "ssh", PublicKey: "ssh-ed25519 AAAA", KnownHosts: "ssh.example.com ssh-ed25519 AAAA\n"}); err != nil {
		t.Fatal(err)
	}
	rep, err := rotate.Run(w.ctx, w.s, box, 2, nil)
	if err != nil {
		t.Fatal(err)
	}
	only, _ := secret.NewBox(newKey)
	if creds, err := w.s.LockSealedGitCredentials(w.ctx); err != nil || len(creds) != 2 {
		t.Fatalf("git credentials: %v, %v", creds, err)
	} else {
		if got, err := only.Open(creds[0].TokenEncrypted, secret.GitCredentialAD(orgID, "git.example.com")); err != nil || string(got) != "git-token" {
			t.Errorf("git token after rotation: %q, %v", got, err)
		}
		if got, err := only.Open(creds[1].TokenEncrypted, secret.GitCredentialAD(orgID, "ssh.example.com")); err != nil || string(got) != sshKey {
			t.Errorf("SSH key after rotation: %q, %v", got, err)
		}
	}
	if src, err := w.s.GetAppSource(w.ctx, w.release.AppID); err != nil {
		t.Fatal(err)
	} else if got, err := only.Open(src.WebhookSecretEncrypted, secret.WebhookAD(w.release.AppID)); err != nil || string(got) != "hook-secret" {
		t.Errorf("webhook secret after rotation: %q, %v", got, err)
	}
	want := map[rotate.Kind]rotate.Count{rotate.Settings: {Seen: 3, Resealed: 3}, rotate.EnvVars: {Seen: 9, Resealed: 9}, rotate.Releases: {Seen: 3, Resealed: 3},
		rotate.WebhookSecrets: {Seen: 1, Resealed: 1}, rotate.GitCredentials: {Seen: 2, Resealed: 2}}
	for k, c := range want {
		if *rep[k] != c {
			t.Errorf("%s: %+v, want %+v", k, *rep[k], c)
		}
	}
	w.check(newKey)
	if after := w.generations(); after != before {
		t.Errorf("generations/env revisions %s -> %s: a re-seal is no spec change", before, after)
	}
	fpAfter, err := store.FingerprintBox(w.ctx, w.s, box)
	if err != nil || fpAfter.Fingerprint([]byte("x")) != fp.Fingerprint([]byte("x")) {
		t.Errorf("fingerprints changed with the key (%v)", err)
	}
	again, err := rotate.Run(w.ctx, w.s, box, 2, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, c := range want {
		if got := *again[k]; got.Resealed != 0 || got.Seen != c.Seen {
			t.Errorf("second run %s: %+v, want nothing re-sealed", k, got)
		}
	}
}

// TestRotateFinishesAfterInterruption: a run stopped between batches leaves
// every value readable (old or new key), and running again finishes the job.
func TestRotateFinishesAfterInterruption(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	newKey := newKey()
	box, _ := secret.NewBox(newKey, w.oldKey)
	ctx, cancel := context.WithCancel(w.ctx)
	batches := 0
	_, err := rotate.Run(ctx, w.s, box, 2, func(kind rotate.Kind, c rotate.Count) {
		if kind == rotate.EnvVars {
			if batches++; batches == 2 {
				cancel() // a crash after two batches of env values
			}
		}
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted run: %v", err)
	}
	partial, _ := secret.NewBox(newKey)
	// Batches go in (app id, key) order, which is not the order w.apps was
	// made in: count the re-sealed values over every app.
	resealed := 0
	for _, a := range w.apps {
		vars, _ := w.s.ListEnvVars(w.ctx, a.ID)
		for _, v := range vars {
			if partial.Current(v.ValueEncrypted) {
				resealed++
			}
		}
	}
	if resealed < 2 {
		t.Fatalf("%d values re-sealed: the first batches were not committed", resealed)
	}
	rep, err := rotate.Run(w.ctx, w.s, box, 2, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c := *rep[rotate.EnvVars]; c.Seen != 9 || c.Resealed != 5 {
		t.Errorf("second run env values %+v, want 9 seen and the 5 left re-sealed", c)
	}
	w.check(newKey)
	// The fingerprint key recorded during the run is the old key's, which
	// the releases were keyed with.
	fp, err := store.FingerprintBox(w.ctx, w.s, partial)
	old, _ := secret.NewBox(w.oldKey)
	if err != nil || fp.Fingerprint([]byte("x")) != old.Fingerprint([]byte("x")) {
		t.Errorf("fingerprint key not the old key's (%v)", err)
	}
}

// TestRotateRefusesMovedValues: a value copied to another app does not open
// under its new binding; the run stops there, naming the row, not the value.
func TestRotateRefusesMovedValues(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	vars, _ := w.s.ListEnvVars(w.ctx, w.apps[0].ID)
	moved := vars[1] // a v1 value of app0
	if err := w.s.UpsertEnvVar(w.ctx, store.UpsertEnvVarParams{AppID: w.apps[1].ID, Key: "STOLEN", ValueEncrypted: moved.ValueEncrypted}); err != nil {
		t.Fatal(err)
	}
	box, _ := secret.NewBox(newKey(), w.oldKey)
	_, err := rotate.Run(w.ctx, w.s, box, 100, nil)
	if err == nil || !strings.Contains(err.Error(), "env STOLEN of app "+w.apps[1].ID.String()) {
		t.Fatalf("error %v, want one naming env STOLEN of app1", err)
	}
	if strings.Contains(err.Error(), "s3cret") || bytes.Contains([]byte(err.Error()), moved.ValueEncrypted) {
		t.Fatalf("error shows a secret: %v", err)
	}
}
