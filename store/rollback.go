package store

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/google/uuid"
	"github.com/sqlc-dev/pqtype"
)

// RollbackToRelease makes an app's spec what release version ran (image,
// command, port, plan, health check and env, sealed values included) in one
// transaction. The reconciler then cuts the next release, recognising it as
// a rollback by its fingerprint; nothing is rewritten in history.
func (s *Store) RollbackToRelease(ctx context.Context, appID uuid.UUID, version int32) (App, error) {
	var out App
	err := s.InTx(ctx, func(q *Queries) error {
		d, err := q.GetDeploymentByVersion(ctx, GetDeploymentByVersionParams{AppID: appID, Version: version})
		if err != nil {
			return err
		}
		var rs ReleaseSpec
		if err := json.Unmarshal(d.Spec, &rs); err != nil {
			return fmt.Errorf("decode release %d: %w", version, err)
		}
		planID, err := uuid.Parse(rs.PlanID)
		if err != nil {
			return fmt.Errorf("release %d plan: %w", version, err)
		}
		app, err := q.GetApp(ctx, appID)
		if err != nil {
			return err
		}
		hc := pqtype.NullRawMessage{}
		if rs.HealthCheck != nil {
			raw, _ := json.Marshal(rs.HealthCheck)
			hc = pqtype.NullRawMessage{RawMessage: raw, Valid: true}
		}
		if _, err := q.db.Exec(ctx, "DELETE FROM paas_env_vars WHERE app_id = $1", appID); err != nil {
			return fmt.Errorf("clear env: %w", err)
		}
		for k, v := range rs.Env {
			if err := q.UpsertEnvVar(ctx, UpsertEnvVarParams{AppID: appID, Key: k, ValueEncrypted: v}); err != nil {
				return fmt.Errorf("restore env %s: %w", k, err)
			}
		}
		app, err = q.GetApp(ctx, appID) // env triggers moved version
		if err != nil {
			return err
		}
		cmd := rs.Command
		if cmd == nil {
			cmd = []string{}
		}
		out, err = q.UpdateAppSpec(ctx, UpdateAppSpecParams{
			ID: appID, Version: app.Version, Image: rs.Image, Replicas: app.Replicas, Port: rs.Port,
			Command: cmd, PlanID: planID, HealthCheck: hc, Stopped: app.Stopped,
		})
		return err
	})
	return out, err
}
