package main

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/hex"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/skypanel/paas/store"
	"github.com/skypanel/paas/store/secret"
	"github.com/skypanel/paas/store/storetest"
)

// TestRotateKeyCommand runs `paasd rotate-key` against a real database: it
// re-seals under the new key what the old one sealed (legacy values too),
// prints counts and key ids but no secret, does nothing the second time, and
// stops, naming the row, on a value no key opens.
func TestRotateKeyCommand(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := storetest.NewURL(t)
	s, err := store.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	oldKey, newKey := make([]byte, 32), make([]byte, 32)
	_, _ = rand.Read(oldKey)
	_, _ = rand.Read(newKey)
	old, _ := secret.NewBox(oldKey)
	org, err := s.CreateOrganization(ctx, store.CreateOrganizationParams{Name: "Acme", Slug: "acme"})
	if err != nil {
		t.Fatal(err)
	}
	plan, err := s.GetPlanByName(ctx, "hobby")
	if err != nil {
		t.Fatal(err)
	}
	a, err := s.CreateApp(ctx, store.CreateAppParams{OrganizationID: org.ID, Name: "web", ServiceName: "t-web",
		Image: "paas-testapp:v1", Replicas: 1, Port: 8080, Command: []string{}, PlanID: plan.ID})
	if err != nil {
		t.Fatal(err)
	}
	sealed, _ := old.Seal([]byte("v1-s3cret"), secret.EnvAD(a.ID, "TOKEN"))
	block, _ := aes.NewCipher(oldKey)
	gcm, _ := cipher.NewGCM(block)
	nonce := make([]byte, gcm.NonceSize())
	_, _ = rand.Read(nonce)
	legacy := gcm.Seal(nonce, nonce, []byte("legacy-s3cret"), nil)
	for k, v := range map[string][]byte{"TOKEN": sealed, "LEGACY": legacy} {
		if err := s.UpsertEnvVar(ctx, store.UpsertEnvVarParams{AppID: a.ID, Key: k, ValueEncrypted: v}); err != nil {
			t.Fatal(err)
		}
	}
	setting, _ := old.Seal([]byte("m4il-s3cret"), secret.SettingAD("smtp_password"))
	if err := s.PutSetting(ctx, store.PutSettingParams{Key: "smtp_password", ValueEncrypted: setting, Sensitive: true}); err != nil {
		t.Fatal(err)
	}

	run := func(env ...string) (string, error) {
		cmd := exec.Command(paasdBinary, "rotate-key", "--batch", "1")
		cmd.Env = append(os.Environ(), "DATABASE_URL="+url, "ENCRYPTION_KEY="+hex.EncodeToString(newKey), "ENCRYPTION_KEY_PREVIOUS=")
		cmd.Env = append(cmd.Env, env...)
		out, err := cmd.CombinedOutput()
		for _, leak := range []string{"s3cret", hex.EncodeToString(oldKey), hex.EncodeToString(newKey)} {
			if strings.Contains(string(out), leak) {
				t.Errorf("output shows a secret (%s): %s", leak, out)
			}
		}
		return string(out), err
	}

	// Without the old key nothing it sealed opens: the run stops on the first
	// value, naming it, and can be run again.
	out, err := run()
	if err == nil || !strings.Contains(out, "run it again") || !strings.Contains(out, " of app "+a.ID.String()) {
		t.Fatalf("rotate-key without the old key: %v\n%s", err, out)
	}

	out, err = run("OLD_KEYS=" + hex.EncodeToString(oldKey))
	if err == nil {
		t.Fatalf("rotate-key without ENCRYPTION_KEY_PREVIOUS succeeded:\n%s", out)
	}
	cmd := exec.Command(paasdBinary, "rotate-key", "--previous-env", "OLD_KEYS")
	cmd.Env = append(os.Environ(), "DATABASE_URL="+url, "ENCRYPTION_KEY="+hex.EncodeToString(newKey), "OLD_KEYS="+hex.EncodeToString(oldKey))
	b, err := cmd.CombinedOutput()
	if out = string(b); err != nil {
		t.Fatalf("rotate-key --previous-env: %v\n%s", err, out)
	}
	for _, want := range []string{
		"re-sealing under key " + secret.KeyID(newKey), secret.KeyID(oldKey),
		"env values 2 re-sealed of 2", "settings 1 re-sealed of 2", "release values 0 re-sealed of 0",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	only, _ := secret.NewBox(newKey)
	vars, _ := s.ListEnvVars(ctx, a.ID)
	for _, v := range vars {
		if got, err := only.Open(v.ValueEncrypted, secret.EnvAD(a.ID, v.Key)); err != nil || !strings.HasSuffix(string(got), "-s3cret") {
			t.Errorf("env %s after rotate-key: %q, %v", v.Key, got, err)
		}
	}

	out, err = run("ENCRYPTION_KEY_PREVIOUS=" + hex.EncodeToString(oldKey))
	if err != nil || !strings.Contains(out, "env values 0 re-sealed of 2") || !strings.Contains(out, "settings 0 re-sealed of 2") {
		t.Fatalf("second rotate-key: %v\n%s", err, out)
	}
}
