package node

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/rs/zerolog"

	"github.com/skypanel/paas/store"
)

// Notification kinds (paas_notifications.kind), for admins: organization_id
// and user_id are NULL.
const (
	NotifyPrefix = "node."
)

// alertCheck is one alert kind's condition for a node.
type alertCheck struct {
	kind   string
	active bool
	what   string // the problem, for the message
}

func checks(row store.WorkerNode, percent int64) []alertCheck {
	serving := row.Approved && row.RemoveRequestedAt == nil
	return []alertCheck{
		{AlertDown, serving && Down(row.State, row.ManagerReachability), downWhat(row)},
		{AlertCPU, serving && Over(row.CpuReservedMillis, row.CpuMillis, percent),
			fmt.Sprintf("CPU reservations at %d of %d millicores (threshold %d%%)", row.CpuReservedMillis, row.CpuMillis, percent)},
		{AlertMemory, serving && Over(row.MemoryReservedBytes, row.MemoryBytes, percent),
			fmt.Sprintf("memory reservations at %d MiB of %d MiB (threshold %d%%)", row.MemoryReservedBytes>>20, row.MemoryBytes>>20, percent)},
	}
}

func downWhat(row store.WorkerNode) string {
	if row.ManagerReachability == "unreachable" {
		return "the manager cannot be reached by the other managers"
	}
	return "Swarm reports it " + row.State
}

// Payload is the body of an alert webhook (POST, JSON), signed in the
// X-Paas-Signature header: "sha256=" + hex HMAC-SHA256 of
// "<X-Paas-Timestamp>.<body>" under node_alert_webhook_secret. Delivery is
// at least once: X-Paas-Delivery names the delivery, the same at retries.
type Payload struct {
	Kind     string    `json:"kind"`   // node.down, node.up, node.cpu, node.cpu_ok, node.memory, node.memory_ok
	Firing   bool      `json:"firing"` // false for a resolution
	NodeID   string    `json:"node_id"`
	Hostname string    `json:"hostname"`
	Title    string    `json:"title"`
	Message  string    `json:"message"`
	At       time.Time `json:"at"`
}

// alerts decides every alert kind of the node and records each decision,
// its notification and, when a webhook URL is set, its webhook delivery
// (paas_alert_deliveries, posted by deliver) in one transaction under a
// per-node lock.
func (r *Reconciler) alerts(ctx context.Context, row store.WorkerNode, cfg settings, now time.Time) error {
	var out []Payload
	err := r.Store.InTx(ctx, func(q *store.Queries) error {
		out = out[:0]
		if err := q.LockNodeAlerts(ctx, row.SwarmNodeID); err != nil {
			return err
		}
		for _, c := range checks(row, cfg.thresholdPercent) {
			var st AlertState
			if a, err := q.GetNodeAlert(ctx, store.GetNodeAlertParams{SwarmNodeID: row.SwarmNodeID, Kind: c.kind}); err == nil {
				st = AlertState{Firing: a.Firing, Notified: a.Notified, Since: a.Since, LastSent: a.LastSentAt}
			} else if !store.IsNotFound(err) {
				return err
			} else if !c.active {
				continue // never fired: nothing to keep
			}
			next, send := DecideAlert(st, c.active, now, cfg.cooldown)
			if next == st {
				continue
			}
			if err := q.PutNodeAlert(ctx, store.PutNodeAlertParams{SwarmNodeID: row.SwarmNodeID, Kind: c.kind,
				Firing: next.Firing, Notified: next.Notified, Since: next.Since, LastSentAt: next.LastSent, At: now}); err != nil {
				return err
			}
			if send == SendNone {
				continue
			}
			p := payload(row, c, send == SendFire, now)
			if _, err := q.CreateNotification(ctx, store.CreateNotificationParams{Kind: p.Kind, Title: p.Title, Body: p.Message}); err != nil {
				return err
			}
			if cfg.webhookURL != "" {
				body, err := json.Marshal(p)
				if err != nil {
					return err
				}
				if _, err := q.CreateAlertDelivery(ctx, store.CreateAlertDeliveryParams{Payload: body, At: now}); err != nil {
					return err
				}
			}
			out = append(out, p)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("alerts: %w", err)
	}
	for _, p := range out {
		zerolog.Ctx(ctx).Warn().Str("alert", p.Kind).Bool("firing", p.Firing).Msg(p.Message)
		r.event(ctx, row, map[bool]string{true: "Warning", false: "Normal"}[p.Firing], "Alert", p.Title, now)
	}
	return nil
}

func payload(row store.WorkerNode, c alertCheck, firing bool, now time.Time) Payload {
	p := Payload{NodeID: row.SwarmNodeID, Hostname: row.Hostname, Firing: firing, At: now}
	name := row.Hostname + " (" + row.SwarmNodeID + ")"
	switch {
	case c.kind == AlertDown && firing:
		p.Kind, p.Title = NotifyPrefix+"down", "Node "+row.Hostname+" is down"
		p.Message = "node " + name + " is down: " + c.what
	case c.kind == AlertDown:
		p.Kind, p.Title = NotifyPrefix+"up", "Node "+row.Hostname+" is back"
		p.Message = "node " + name + " is ready again"
	case firing:
		p.Kind, p.Title = NotifyPrefix+c.kind, "Node "+row.Hostname+": "+c.kind+" reservations high"
		p.Message = "node " + name + ": " + c.what
	default:
		p.Kind, p.Title = NotifyPrefix+c.kind+"_ok", "Node "+row.Hostname+": "+c.kind+" reservations back under the threshold"
		p.Message = "node " + name + ": " + c.kind + " reservations back under the threshold"
	}
	return p
}

// Sign returns the X-Paas-Signature of body sent at timestamp.
func Sign(secret []byte, timestamp string, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(timestamp))
	m.Write([]byte("."))
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// send posts one alert webhook; delivery is its stable id (X-Paas-Delivery),
// the same at every retry, as are the body and the signature.
func (r *Reconciler) send(ctx context.Context, cfg settings, delivery string, p Payload) error {
	body, err := json.Marshal(p)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, cfg.webhookURL, bytes.NewReader(body))
	if err != nil {
		return err
	}
	ts := strconv.FormatInt(p.At.Unix(), 10)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "skypanel-paas")
	req.Header.Set("X-Paas-Timestamp", ts)
	req.Header.Set("X-Paas-Delivery", delivery)
	if len(cfg.webhookSecret) > 0 {
		req.Header.Set("X-Paas-Signature", Sign(cfg.webhookSecret, ts, body))
	}
	c := r.HTTP
	if c == nil {
		c = &http.Client{Timeout: 5 * time.Second}
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("webhook answered %s", resp.Status)
	}
	return nil
}
