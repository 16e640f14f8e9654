// Package deploy holds what runs the platform itself on Swarm: the config
// templates of the paas-infra stack, embedded so paasd carries them.
package deploy

import "embed"

// Templates are the stack's config templates (templates/*.tmpl), rendered by
// package deploy/stack.
//
//go:embed templates/*.tmpl
var Templates embed.FS
