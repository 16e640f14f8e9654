// Package status writes what the loops observe about an app. Each loop
// owns some condition types and writes only those; they are merged per
// type in SQL (paas_set_conditions), and the summary phase and status
// message are derived from the merged list in the same transaction, so two
// loops writing at once never lose each other's update and the phase always
// reflects every loop's conditions.
package status

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/skypanel/paas/controllers/servicespec"
	"github.com/skypanel/paas/store"
)

// Store is the part of the database a status write uses.
type Store interface {
	InTx(ctx context.Context, fn func(q *store.Queries) error) error
}

// Merged is what a merging write returns: the app's conditions after the
// merge and the phase and message stored before it.
type Merged = store.SetAppConditionsRow

// Write runs write (a statement that merges conditions, such as
// RecordAppStatus or SetAppConditions) in a transaction, then stores the
// phase and status message derived from the merged conditions when they
// changed. The merge statement's row lock holds any other writer of the
// app until this transaction ends.
func Write(ctx context.Context, db Store, app uuid.UUID, write func(q *store.Queries) (Merged, error)) error {
	return db.InTx(ctx, func(q *store.Queries) error {
		row, err := write(q)
		if err != nil {
			return err
		}
		var conds []servicespec.Condition
		if err := json.Unmarshal(row.Conditions, &conds); err != nil {
			return fmt.Errorf("decode merged conditions: %w", err)
		}
		phase, msg := servicespec.Phase(conds, row.Deleting), servicespec.Summary(conds)
		if phase == row.Phase && msg == row.StatusMessage {
			return nil
		}
		return q.SetAppPhase(ctx, store.SetAppPhaseParams{ID: app, Phase: phase, StatusMessage: msg})
	})
}

// SetConditions merges conds, which must be types the calling loop owns,
// into the app's conditions at time at. A missing app is not an error: a
// deleted app has nothing to report.
func SetConditions(ctx context.Context, db Store, app uuid.UUID, conds []servicespec.Condition, at time.Time) error {
	err := Write(ctx, db, app, func(q *store.Queries) (Merged, error) {
		return q.SetAppConditions(ctx, store.SetAppConditionsParams{
			ID: app, Conditions: Encode(conds), At: at, ConditionOrder: servicespec.ConditionOrder(),
		})
	})
	if store.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("set conditions: %w", err)
	}
	return nil
}

// Encode renders conditions for a merge; an empty list is "[]", never null.
func Encode(conds []servicespec.Condition) json.RawMessage {
	if conds == nil {
		conds = []servicespec.Condition{}
	}
	b, err := json.Marshal(conds)
	if err != nil {
		// Conditions are strings and a time: Marshal cannot fail.
		panic("status: marshal conditions: " + err.Error())
	}
	return b
}

// Differ reports whether writing want would change any of its types in
// have (status, reason or message; transition times are the merge's).
func Differ(have, want []servicespec.Condition) bool {
	for _, w := range want {
		h := servicespec.FindCondition(have, w.Type)
		if h == nil || h.Status != w.Status || h.Reason != w.Reason || h.Message != w.Message {
			return true
		}
	}
	return false
}

// Decode reads an app's stored condition list; an empty column is no conditions.
func Decode(raw []byte) ([]servicespec.Condition, error) {
	var conds []servicespec.Condition
	if len(raw) == 0 {
		return nil, nil
	}
	if err := json.Unmarshal(raw, &conds); err != nil {
		return nil, fmt.Errorf("decode conditions: %w", err)
	}
	return conds, nil
}
