package node

import "time"

// Alert kinds, one state per node and kind (paas_node_alerts).
const (
	AlertDown   = "down"   // down, or a manager unreachable
	AlertCPU    = "cpu"    // CPU reservations at or above the threshold
	AlertMemory = "memory" // memory reservations at or above the threshold
)

// AlertState is one alert's state as kept in Postgres.
type AlertState struct {
	Firing bool
	// Notified: this episode's alert was sent (so its end is announced).
	Notified bool
	Since    *time.Time
	LastSent *time.Time
}

// Send is what an alert decision asks to send.
type Send int

// What to send.
const (
	SendNone    Send = iota
	SendFire         // the problem started (or lasted past the cooldown unannounced)
	SendResolve      // the problem that was announced is over
)

// DecideAlert is the alert state machine: active says whether the
// condition holds now. An alert is sent when the condition starts, unless
// one of its kind for the node was sent less than cooldown ago; a
// condition that lasts past the cooldown unannounced is announced then. Its
// end is announced only when its start was. The state lives in Postgres,
// so a restart neither forgets nor repeats an alert.
func DecideAlert(st AlertState, active bool, now time.Time, cooldown time.Duration) (AlertState, Send) {
	cooled := st.LastSent == nil || now.Sub(*st.LastSent) >= cooldown
	switch {
	case active && !st.Firing:
		st.Firing, st.Since = true, &now
		if cooled {
			st.Notified, st.LastSent = true, &now
			return st, SendFire
		}
		st.Notified = false
		return st, SendNone
	case active && st.Firing && !st.Notified && cooled:
		st.Notified, st.LastSent = true, &now
		return st, SendFire
	case !active && st.Firing:
		send := SendNone
		if st.Notified {
			send = SendResolve
		}
		st.Firing, st.Notified, st.Since = false, false, nil
		return st, send
	}
	return st, SendNone
}

// Over reports whether used is at or above percent of capacity (never for
// an unknown capacity).
func Over(used, capacity, percent int64) bool {
	return capacity > 0 && used*100 >= capacity*percent
}
