package controllers_test

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"slices"
	"testing"
	"time"

	"github.com/skypanel/paas/store"
	"github.com/skypanel/paas/store/rotate"
	"github.com/skypanel/paas/store/secret"
)

// TestKeyRotationCutsNoRelease follows the rotation procedure on a running
// app: restart with the new key and the old one as previous, rotate-key,
// restart with the new key alone. The app keeps its release (fingerprints do
// not depend on ENCRYPTION_KEY), even when an unchanged value is written
// again and its generation moves; a value sealed before format v1 is read
// and upgraded.
func TestKeyRotationCutsNoRelease(t *testing.T) {
	t.Parallel()
	e := setup(t)
	a := e.createApp("keyed", "paas-testapp:v1", 1, map[string]string{"GREETING": "hello", "TOKEN": "t0k3n"})
	// A value as paasd sealed it before format v1: nonce || ciphertext || tag.
	oldKey := e.box.Keys()[0]
	block, _ := aes.NewCipher(oldKey)
	gcm, _ := cipher.NewGCM(block)
	nonce := make([]byte, gcm.NonceSize())
	_, _ = rand.Read(nonce)
	if err := e.store.UpsertEnvVar(e.ctx, store.UpsertEnvVarParams{AppID: a.ID, Key: "LEGACY", ValueEncrypted: gcm.Seal(nonce, nonce, []byte("old"), nil)}); err != nil {
		t.Fatal(err)
	}
	ready := e.waitReady(a.ID, 90*time.Second)
	release, err := e.store.GetLatestDeployment(e.ctx, a.ID) // 1, or 2 when LEGACY came after release 1
	if err != nil {
		t.Fatal(err)
	}
	svc, _ := e.service(a.ID)
	if env := svc.Spec.TaskTemplate.ContainerSpec.Env; !slices.Contains(env, "LEGACY=old") || !slices.Contains(env, "TOKEN=t0k3n") {
		t.Fatalf("service env %v", env)
	}

	newKey := make([]byte, 32)
	_, _ = rand.Read(newKey)
	rotating, err := secret.NewBox(newKey, oldKey)
	if err != nil {
		t.Fatal(err)
	}
	e.restart(rotating)
	rep, err := rotate.Run(e.ctx, e.store, rotating, 2, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c := *rep[rotate.EnvVars]; c.Resealed != 3 {
		t.Fatalf("env values re-sealed %+v, want 3", c)
	}
	if c := *rep[rotate.Releases]; c.Resealed < 3 || c.Resealed != c.Seen {
		t.Fatalf("release values re-sealed %+v, want every one (at least 3)", c)
	}
	if got := e.app(a.ID); got.Generation != ready.Generation {
		t.Fatalf("generation %d -> %d: a re-seal is no spec change", ready.Generation, got.Generation)
	}
	only, _ := secret.NewBox(newKey)
	e.restart(only)
	// An unchanged value written again (a new generation, a release check).
	e.setEnv(a.ID, "TOKEN", "t0k3n")
	got := e.waitReady(a.ID, 60*time.Second)
	time.Sleep(3 * time.Second) // a resync or two
	if got.Generation == ready.Generation {
		t.Fatal("the rewrite of TOKEN made no new generation")
	}
	if d, err := e.store.GetLatestDeployment(e.ctx, a.ID); err != nil || d.Version != release.Version {
		t.Fatalf("latest release %d (%v), want release %d still", d.Version, err, release.Version)
	}
	svc, _ = e.service(a.ID)
	if env := svc.Spec.TaskTemplate.ContainerSpec.Env; !slices.Contains(env, "LEGACY=old") || !slices.Contains(env, "TOKEN=t0k3n") {
		t.Fatalf("service env after rotation %v", env)
	}
}
