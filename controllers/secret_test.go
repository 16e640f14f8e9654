package controllers_test

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sqlc-dev/pqtype"

	"github.com/skypanel/paas/controllers/swarm/swarmtest"
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

// TestCommandsStayOutOfEventsAndLogs: an app whose arguments and health-check
// command carry credentials runs, changes command, and has both edited by
// hand and reverted; no event, release log, status or log line shows them.
func TestCommandsStayOutOfEventsAndLogs(t *testing.T) {
	t.Parallel()
	e := setup(t)
	hc, _ := json.Marshal(store.HealthCheck{Command: []string{"/testapp", "-healthcheck", "http://127.0.0.1:8080/health?token=pa55-hc"}, IntervalSeconds: 1, Retries: 3})
	a, err := e.store.CreateApp(e.ctx, store.CreateAppParams{
		OrganizationID: e.org.ID, Name: "cmds", ServiceName: store.ServiceNameFor(e.instance, "cmds"),
		Image: "paas-testapp:v1", Replicas: 1, Port: 8080, Command: []string{"serve", "--password=hunter2-arg"}, PlanID: e.plan.ID,
		HealthCheck: pqtype.NullRawMessage{RawMessage: hc, Valid: true},
	})
	if err != nil {
		t.Fatal(err)
	}
	e.waitReady(a.ID, 90*time.Second)

	// A new command: release 2, an Updated event.
	e.patch(a.ID, func(p *store.UpdateAppSpecParams) { p.Command = []string{"serve", "--password=hunter3-arg"} })
	e.waitDeployment(a.ID, 2, "deployed", 90*time.Second)
	e.waitEvent(a.ID, "Updated", "args changed", 30*time.Second)
	e.waitReady(a.ID, 60*time.Second)

	// Hand edits of both, reverted.
	dockerCLI(t, "service", "update", "--detach", "--args", "serve --password=hand-edit-arg",
		"--health-cmd", "/testapp -healthcheck http://127.0.0.1:8080/health?token=hand-edit-hc", a.ServiceName)
	ev := e.waitEvent(a.ID, "DriftReverted", "args changed", 30*time.Second)
	if !strings.Contains(ev.Message, "healthcheck") {
		t.Errorf("drift event %q does not name the healthcheck", ev.Message)
	}
	swarmtest.Eventually(t, 60*time.Second, "args reverted", func() bool {
		svc, ok := e.service(a.ID)
		return ok && slices.Equal(svc.Spec.TaskTemplate.ContainerSpec.Args, []string{"serve", "--password=hunter3-arg"})
	})
	e.waitReady(a.ID, 60*time.Second)

	var printed []string
	for _, ev := range e.events(a.ID) {
		printed = append(printed, "event "+ev.Reason+": "+ev.Message)
	}
	for v := int32(1); v <= 2; v++ {
		d := e.deployment(a.ID, v)
		printed = append(printed, fmt.Sprintf("release %d: %s %s", v, d.Message, d.Log))
	}
	got := e.app(a.ID)
	printed = append(printed, "status: "+got.StatusMessage+" "+string(got.Conditions), "logs: "+e.logs.String())
	for _, p := range printed {
		for _, leak := range []string{"hunter2", "hunter3", "hand-edit", "pa55-hc", "token="} {
			if strings.Contains(p, leak) {
				t.Errorf("%q shows %q", p, leak)
			}
		}
	}
}
