// Package deploy holds what runs the platform itself on Swarm: the config
// templates of the paas-infra stack, the Prometheus alerting rules and the
// Grafana dashboards, embedded so paasd carries them.
package deploy

import (
	"embed"
	"regexp"
	"slices"
	"strings"
)

// Templates are the stack's config templates (templates/*.tmpl), rendered by
// package deploy/stack.
//
//go:embed templates/*.tmpl
var Templates embed.FS

// Static are the stack's files that are not templates (their own syntax
// uses {{ }}): Prometheus's alerting rules and Grafana's dashboards, and
// the cAdvisor metric names the dashboards may use.
//
//go:embed prometheus/alerts.yml grafana/*.json grafana/cadvisor-metrics.txt
var Static embed.FS

// Dashboards names the provisioned dashboards in Static.
var Dashboards = []string{"grafana/platform.json", "grafana/app.json"}

var (
	promStrings  = regexp.MustCompile(`"(?:[^"\\]|\\.)*"`)
	promBraces   = regexp.MustCompile(`\{[^{}]*\}`)
	promRanges   = regexp.MustCompile(`\[[^\[\]]*\]`)
	promGrouping = regexp.MustCompile(`\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)`)
	promIdent    = regexp.MustCompile(`[a-zA-Z_:][a-zA-Z0-9_:]*`)
	labelValues  = regexp.MustCompile(`label_values\(\s*([a-zA-Z_:][a-zA-Z0-9_:]*)\s*,`)
	promKeywords = map[string]bool{"and": true, "or": true, "unless": true, "bool": true, "offset": true, "by": true,
		"without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true, "inf": true, "nan": true}
)

// MetricNames lists the metric names a PromQL expression (or a Grafana
// label_values() variable query) reads, sorted: every identifier that is
// not a function, keyword, label or Grafana variable.
func MetricNames(expr string) []string {
	if m := labelValues.FindStringSubmatch(expr); m != nil {
		return []string{m[1]}
	}
	e := promStrings.ReplaceAllString(expr, `""`)
	for prev := ""; prev != e; {
		prev = e
		e = promBraces.ReplaceAllString(e, " ")
	}
	e = promRanges.ReplaceAllString(e, " ")
	e = promGrouping.ReplaceAllString(e, " ")
	var out []string
	for _, loc := range promIdent.FindAllStringIndex(e, -1) {
		name := e[loc[0]:loc[1]]
		if loc[0] > 0 && (e[loc[0]-1] == '$' || e[loc[0]-1] == '.' || (e[loc[0]-1] >= '0' && e[loc[0]-1] <= '9')) {
			continue // a variable, or part of a number such as 1e3
		}
		if promKeywords[strings.ToLower(name)] || strings.HasPrefix(strings.TrimSpace(e[loc[1]:]), "(") {
			continue
		}
		if !slices.Contains(out, name) {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}
