package servicespec

import (
	"maps"
	"strings"
	"testing"

	"github.com/docker/docker/api/types/swarm"
)

func TestNewOwnershipRefusesOverlaps(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		owners map[string]Fields
		want   string // substring of the error; "" for valid
	}{
		{"valid", map[string]Fields{"app": {Rest: true}, "scale": {Replicas: true, ForceUpdate: true}, "dns": {LabelPrefixes: []string{"traefik."}}}, ""},
		{"no rest", map[string]Fields{"scale": {Replicas: true}}, "no loop owns the rest"},
		{"two rests", map[string]Fields{"a": {Rest: true}, "b": {Rest: true}}, "the rest is claimed by loops a and b"},
		{"replicas twice", map[string]Fields{"app": {Rest: true}, "a": {Replicas: true}, "b": {Replicas: true}}, "replicas is claimed"},
		{"nested prefixes", map[string]Fields{"app": {Rest: true}, "a": {LabelPrefixes: []string{"traefik."}}, "b": {LabelPrefixes: []string{"traefik.http."}}}, "overlaps"},
		{"empty prefix", map[string]Fields{"app": {Rest: true}, "a": {LabelPrefixes: []string{""}}}, "empty label prefix"},
	} {
		_, err := NewOwnership(tc.owners)
		if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%s: NewOwnership error = %v, want %q", tc.name, err, tc.want)
		}
	}
}

func TestMergeReplacesOnlyTheWritersFields(t *testing.T) {
	t.Parallel()
	own, err := NewOwnership(map[string]Fields{
		"app":    {Rest: true, LabelPrefixes: []string{LabelPrefix}},
		"scale":  {Replicas: true, ForceUpdate: true},
		"domain": {LabelPrefixes: []string{"traefik."}},
		"extra":  {LabelPrefixes: []string{"extra."}},
	})
	if err != nil {
		t.Fatal(err)
	}
	spec := func(image string, replicas, force uint64, labels map[string]string) swarm.ServiceSpec {
		return swarm.ServiceSpec{
			Annotations:  swarm.Annotations{Name: "svc", Labels: labels},
			Mode:         swarm.ServiceMode{Replicated: &swarm.ReplicatedService{Replicas: &replicas}},
			TaskTemplate: swarm.TaskSpec{ContainerSpec: &swarm.ContainerSpec{Image: image}, ForceUpdate: force},
		}
	}
	live := spec("live:1", 3, 2, map[string]string{
		"paas.app.id": "a", "traefik.enable": "true", "extra.x": "live", "foo": "hand-added",
	})
	desired := spec("want:2", 7, 9, map[string]string{
		"paas.app.id": "a", "paas.release": "2", "traefik.enable": "false", "traefik.new": "1", "extra.x": "want", "extra.y": "new",
	})
	liveBefore := maps.Clone(live.Labels)

	for _, tc := range []struct {
		writer       string
		image        string
		replicas     uint64
		force        uint64
		labels       map[string]string
		wantsNoAlias bool
	}{
		// The rest: desired's image and paas.* labels; the hand-added label
		// goes; replicas, force and the other loops' labels stay live.
		{"app", "want:2", 3, 2, map[string]string{"paas.app.id": "a", "paas.release": "2", "traefik.enable": "true", "extra.x": "live"}, true},
		{"scale", "live:1", 7, 9, map[string]string{"paas.app.id": "a", "traefik.enable": "true", "extra.x": "live", "foo": "hand-added"}, true},
		{"domain", "live:1", 3, 2, map[string]string{"paas.app.id": "a", "traefik.enable": "false", "traefik.new": "1", "extra.x": "live", "foo": "hand-added"}, true},
		{"extra", "live:1", 3, 2, map[string]string{"paas.app.id": "a", "traefik.enable": "true", "extra.x": "want", "extra.y": "new", "foo": "hand-added"}, true},
	} {
		got := own.Merge(tc.writer, live, desired)
		if img := got.TaskTemplate.ContainerSpec.Image; img != tc.image {
			t.Errorf("%s: image %q, want %q", tc.writer, img, tc.image)
		}
		if r := *got.Mode.Replicated.Replicas; r != tc.replicas {
			t.Errorf("%s: replicas %d, want %d", tc.writer, r, tc.replicas)
		}
		if f := got.TaskTemplate.ForceUpdate; f != tc.force {
			t.Errorf("%s: force update %d, want %d", tc.writer, f, tc.force)
		}
		if !maps.Equal(got.Labels, tc.labels) {
			t.Errorf("%s: labels %v, want %v", tc.writer, got.Labels, tc.labels)
		}
		if got.Mode.Replicated.Replicas == live.Mode.Replicated.Replicas || got.Mode.Replicated.Replicas == desired.Mode.Replicated.Replicas {
			t.Errorf("%s: replicas pointer aliases an input", tc.writer)
		}
	}
	if !maps.Equal(live.Labels, liveBefore) || *live.Mode.Replicated.Replicas != 3 {
		t.Error("Merge modified its input")
	}
}

func TestLabelOwner(t *testing.T) {
	t.Parallel()
	own := testOwnership(t)
	for label, want := range map[string]string{
		"paas.app.id": "app", "traefik.enable": "domain", "traefik.http.routers.x.rule": "domain",
		"foo": "app", "traefikx": "app", "com.docker.stack.namespace": "app",
	} {
		if got := own.LabelOwner(label); got != want {
			t.Errorf("LabelOwner(%q) = %q, want %q", label, got, want)
		}
	}
}
