package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/skypanel/paas/store"
)

// The alert webhook outbox (paas_alert_deliveries): alerts queues each
// webhook in the transaction that decides the alert; deliver posts what is
// due, at least once: a failed post is retried with exponential backoff
// until MaxDeliveryAttempts, then given up (the row keeps its last error).
const (
	MaxDeliveryAttempts = 12
	deliveryBackoffBase = 10 * time.Second
	deliveryBackoffMax  = 15 * time.Minute
	deliveryBatch       = 5
)

// DeliveryBackoff is how long to wait after the given number of failed
// attempts (1 for the first failure): 10s·2^(failed-1), at most 15 minutes.
func DeliveryBackoff(failed int) time.Duration {
	if failed < 1 {
		return 0
	}
	d := deliveryBackoffBase
	for i := 1; i < failed; i++ {
		d *= 2
		if d >= deliveryBackoffMax {
			return deliveryBackoffMax
		}
	}
	return d
}

// deliver posts every due alert webhook, in batches claimed with FOR UPDATE
// SKIP LOCKED (a row is held by one worker or replica until its outcome is
// recorded; a crash mid-send rolls back and the row is due again). It
// returns when the earliest pending delivery is next due (zero if none).
// With no webhook URL configured, deliveries wait.
func (r *Reconciler) deliver(ctx context.Context, cfg settings, now time.Time) (time.Time, error) {
	if cfg.webhookURL == "" {
		return time.Time{}, nil
	}
	for range 100 { // bounded: a pass never runs for ever
		n := 0
		err := r.Store.InTx(ctx, func(q *store.Queries) error {
			rows, err := q.ClaimAlertDeliveries(ctx, store.ClaimAlertDeliveriesParams{
				Now: now, MaxAttempts: MaxDeliveryAttempts, Batch: deliveryBatch})
			if err != nil {
				return err
			}
			n = len(rows)
			for _, d := range rows {
				if err := r.attempt(ctx, q, cfg, d, now); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return time.Time{}, fmt.Errorf("deliver alert webhooks: %w", err)
		}
		if n < deliveryBatch {
			break
		}
	}
	next, err := r.Store.NextAlertDelivery(ctx, MaxDeliveryAttempts)
	if store.IsNotFound(err) {
		return time.Time{}, nil
	}
	return next, err
}

// attempt posts one delivery and records the outcome.
func (r *Reconciler) attempt(ctx context.Context, q *store.Queries, cfg settings, d store.PaasAlertDelivery, now time.Time) error {
	var p Payload
	sendErr := json.Unmarshal(d.Payload, &p)
	if sendErr == nil {
		sendErr = r.send(ctx, cfg, d.ID.String(), p)
	}
	if sendErr == nil {
		return q.MarkAlertDelivered(ctx, store.MarkAlertDeliveredParams{ID: d.ID, At: &now})
	}
	failed := int(d.Attempts) + 1
	msg := redact(sendErr, cfg.webhookURL)
	log := zerolog.Ctx(ctx).Warn().Str("delivery", d.ID.String()).Str("alert", p.Kind).Int("attempts", failed).Str("error", msg)
	if failed >= MaxDeliveryAttempts {
		log.Msg("alert webhook failed: given up")
	} else {
		log.Msg("alert webhook failed: will retry")
	}
	return q.MarkAlertDeliveryFailed(ctx, store.MarkAlertDeliveryFailedParams{ID: d.ID, Attempts: int32(failed),
		LastError: msg, NextAttemptAt: now.Add(DeliveryBackoff(failed))})
}

// redact describes a failed post without the webhook URL, which may carry
// a token (Slack's and many others' do).
func redact(err error, webhookURL string) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	msg := err.Error()
	if webhookURL != "" {
		msg = strings.ReplaceAll(msg, webhookURL, "<webhook url>")
	}
	if u, perr := url.Parse(webhookURL); perr == nil && u.RawQuery != "" {
		msg = strings.ReplaceAll(msg, u.RawQuery, "<query>")
	}
	return msg
}
