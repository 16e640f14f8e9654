// Package servicespec holds the pure half of the app reconciler: it renders the
// Swarm service an app should have, projects a live service onto the fields the
// app loop owns, diffs the two, plans the write, and reads rollout truth and
// conditions back out of Swarm's answers.
//
// Nothing here does I/O or reads the clock: reconcilers fetch desired state from
// Postgres and observed state from Swarm, pass both in (with "now"), and apply
// whatever plan comes back. That keeps every decision table-testable, the way
// Nomad's reconciler and Traefik's label builders are.
//
// Field ownership on one Swarm service is split between loops (see DESIGN.md):
// the app loop owns the task template and the paas.* labels, the scale loop owns
// Mode.Replicated.Replicas and TaskTemplate.ForceUpdate, the domain loop owns
// every traefik.* label. Project and PlanApp encode that split.
package servicespec
