// Package billing holds the billing loops: the meter loop (kind app)
// records the replica intervals that really ran and owns each app's
// Suspended condition; the wallet loop (kind org) turns a balance at or
// under the threshold into a suspension (InsufficientFunds), a credit above
// it into a restore, and writes the notifications; the sweep loop (cron,
// on the leader) charges complete hours (store/billing.Sweep).
package billing
