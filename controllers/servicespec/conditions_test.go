package servicespec

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"
)

func TestSetCondition(t *testing.T) {
	t.Parallel()
	t1, t2 := t0.Add(time.Minute), t0.Add(2*time.Minute)
	ready := func(status, reason string) Condition {
		return Condition{Type: ConditionReady, Status: status, Reason: reason, Message: reason + "."}
	}

	t.Run("new condition gets now", func(t *testing.T) {
		t.Parallel()
		got := SetCondition(nil, ready(StatusFalse, "Deploying"), t1)
		if len(got) != 1 || !got[0].LastTransitionTime.Equal(t1) || got[0].Reason != "Deploying" {
			t.Errorf("got %+v", got)
		}
	})

	t.Run("same status keeps the transition time but updates reason and message", func(t *testing.T) {
		t.Parallel()
		in := SetCondition(nil, ready(StatusFalse, "Deploying"), t1)
		got := SetCondition(in, ready(StatusFalse, "CrashLoop"), t2)
		if !got[0].LastTransitionTime.Equal(t1) || got[0].Reason != "CrashLoop" || got[0].Message != "CrashLoop." {
			t.Errorf("got %+v", got[0])
		}
	})

	t.Run("status flip moves the transition time", func(t *testing.T) {
		t.Parallel()
		in := SetCondition(nil, ready(StatusFalse, "Deploying"), t1)
		got := SetCondition(in, ready(StatusTrue, "Deployed"), t2)
		if !got[0].LastTransitionTime.Equal(t2) || got[0].Status != StatusTrue {
			t.Errorf("got %+v", got[0])
		}
		if in[0].Status != StatusFalse {
			t.Error("SetCondition modified its input")
		}
	})

	t.Run("caller's transition time is ignored", func(t *testing.T) {
		t.Parallel()
		c := ready(StatusTrue, "Deployed")
		c.LastTransitionTime = t0.Add(-time.Hour)
		if got := SetCondition(nil, c, t1); !got[0].LastTransitionTime.Equal(t1) {
			t.Errorf("got %v", got[0].LastTransitionTime)
		}
	})

	t.Run("order is stable by type", func(t *testing.T) {
		t.Parallel()
		var conds []Condition
		for _, typ := range []string{"Zeta", ConditionSuspended, ConditionDegraded, "Alpha", ConditionReady, ConditionProgressing} {
			conds = SetCondition(conds, Condition{Type: typ, Status: StatusFalse}, t1)
		}
		var types []string
		for _, c := range conds {
			types = append(types, c.Type)
		}
		want := []string{ConditionReady, ConditionProgressing, ConditionDegraded, ConditionSuspended, "Alpha", "Zeta"}
		if !reflect.DeepEqual(types, want) {
			t.Errorf("order = %v, want %v", types, want)
		}
	})
}

func TestFindCondition(t *testing.T) {
	t.Parallel()
	conds := SetCondition(nil, Condition{Type: ConditionDegraded, Status: StatusTrue, Reason: "RolloutFailed"}, t0)
	if c := FindCondition(conds, ConditionDegraded); c == nil || c.Reason != "RolloutFailed" {
		t.Errorf("FindCondition(Degraded) = %+v", c)
	}
	if c := FindCondition(conds, ConditionReady); c != nil {
		t.Errorf("FindCondition(Ready) = %+v, want nil", c)
	}
}

func TestConditionJSON(t *testing.T) {
	t.Parallel()
	b, err := json.Marshal(Condition{Type: ConditionReady, Status: StatusTrue, Reason: "Deployed", Message: "All 2 replicas run release 3.", LastTransitionTime: t0})
	if err != nil {
		t.Fatal(err)
	}
	want := `{"type":"Ready","status":"True","reason":"Deployed","message":"All 2 replicas run release 3.","last_transition_time":"2026-05-01T12:00:00Z"}`
	if string(b) != want {
		t.Errorf("json = %s\nwant %s", b, want)
	}
}

func TestPhase(t *testing.T) {
	t.Parallel()
	c := func(typ, status, reason string) Condition {
		return Condition{Type: typ, Status: status, Reason: reason}
	}
	tests := []struct {
		name     string
		conds    []Condition
		deleting bool
		want     string
	}{
		{"nothing observed", nil, false, PhasePending},
		{"deleting beats everything", []Condition{c(ConditionReady, StatusTrue, ""), c(ConditionSuspended, StatusTrue, "")}, true, PhaseDeleting},
		{"suspended beats a rollout", []Condition{c(ConditionProgressing, StatusTrue, ""), c(ConditionSuspended, StatusTrue, "WalletEmpty")}, false, PhaseSuspended},
		{"stopped by the user", []Condition{c(ConditionReady, StatusFalse, ReasonStopped), c(ConditionSuspended, StatusFalse, "")}, false, PhaseStopped},
		{"deploying", []Condition{c(ConditionReady, StatusFalse, "Deploying"), c(ConditionProgressing, StatusTrue, "NewRelease")}, false, PhaseDeploying},
		{"deploying over an earlier failure", []Condition{c(ConditionProgressing, StatusTrue, ""), c(ConditionDegraded, StatusTrue, "RolloutFailed")}, false, PhaseDeploying},
		{"rolled back, old release serving", []Condition{c(ConditionReady, StatusTrue, ""), c(ConditionProgressing, StatusFalse, ""), c(ConditionDegraded, StatusTrue, "RolledBack")}, false, PhaseDegraded},
		{"failed, nothing serving", []Condition{c(ConditionReady, StatusFalse, "CrashLoop"), c(ConditionDegraded, StatusTrue, "CrashLoop")}, false, PhaseFailed},
		{"running", []Condition{c(ConditionReady, StatusTrue, ""), c(ConditionProgressing, StatusFalse, ""), c(ConditionDegraded, StatusFalse, ""), c(ConditionSuspended, StatusFalse, "")}, false, PhaseRunning},
		{"unknown readiness", []Condition{c(ConditionReady, StatusUnknown, "SwarmUnreachable")}, false, PhasePending},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := Phase(tc.conds, tc.deleting); got != tc.want {
				t.Errorf("Phase = %s, want %s", got, tc.want)
			}
		})
	}
}
