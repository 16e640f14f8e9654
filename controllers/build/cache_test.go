package build

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestPlanCache: the pure plan removes what is older than the TTL, then
// the oldest until the total is under the size bound, never an image in
// use, and says why for each.
func TestPlanCache(t *testing.T) {
	now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	const mb = int64(1 << 20)
	img := func(id string, ageHours int, sizeMB int64, inUse bool) CachedImage {
		return CachedImage{ID: id, Tags: []string{"r/o/a:" + id}, Created: now.Add(-time.Duration(ageHours) * time.Hour), Size: sizeMB * mb, InUse: inUse}
	}
	cases := []struct {
		name     string
		images   []CachedImage
		ttl      time.Duration
		maxBytes int64
		want     string // "id:reason ..." in removal order
	}{
		{"nothing to do", []CachedImage{img("b1", 1, 10, false), img("b2", 2, 10, false)}, 24 * time.Hour, 100 * mb, ""},
		{"expired go", []CachedImage{img("b1", 48, 10, false), img("b2", 25, 10, false), img("b3", 23, 10, false)}, 24 * time.Hour, 100 * mb,
			"b1:expired b2:expired"},
		{"exactly the ttl is expired", []CachedImage{img("b1", 24, 10, false)}, 24 * time.Hour, 0, "b1:expired"},
		{"expired but in use stays", []CachedImage{img("b1", 48, 10, true), img("b2", 30, 10, false)}, 24 * time.Hour, 0, "b2:expired"},
		{"over size: oldest first until under", []CachedImage{img("b3", 1, 40, false), img("b1", 3, 40, false), img("b2", 2, 40, false)}, 24 * time.Hour, 50 * mb,
			"b1:over_size b2:over_size"},
		{"at the bound is under", []CachedImage{img("b1", 2, 25, false), img("b2", 1, 25, false)}, 0, 50 * mb, ""},
		{"in use counts but is skipped", []CachedImage{img("b1", 3, 40, true), img("b2", 2, 40, false), img("b3", 1, 40, false)}, 0, 90 * mb,
			"b2:over_size"},
		{"in use alone over the bound: nothing else to remove", []CachedImage{img("b1", 3, 200, true), img("b2", 2, 10, false)}, 0, 100 * mb,
			"b2:over_size"},
		{"ttl first, then size", []CachedImage{img("b1", 72, 30, false), img("b2", 10, 30, false), img("b3", 5, 30, false), img("b4", 1, 30, false)}, 48 * time.Hour, 70 * mb,
			"b1:expired b2:over_size"},
		{"no bounds", []CachedImage{img("b1", 10000, 100000, false)}, 0, 0, ""},
		{"same age: by id", []CachedImage{img("b2", 5, 10, false), img("b1", 5, 10, false)}, 0, 10 * mb, "b1:over_size"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := slices.Clone(c.images)
			var got []string
			for _, r := range plan(c.images, now, c.ttl, c.maxBytes) {
				got = append(got, fmt.Sprintf("%s:%s", r.Image.ID, r.Reason))
			}
			if g := strings.Join(got, " "); g != c.want {
				t.Fatalf("plan = %q, want %q", g, c.want)
			}
			if !slices.EqualFunc(in, c.images, func(a, b CachedImage) bool { return a.ID == b.ID }) {
				t.Fatal("plan reordered its input")
			}
		})
	}
}

// TestPlanAll: DELETE …/build-cache removes every image of the app but
// those in use, oldest first.
func TestPlanAll(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	images := []CachedImage{
		{ID: "c", Created: now}, {ID: "a", Created: now.Add(-2 * time.Hour), InUse: true}, {ID: "b", Created: now.Add(-time.Hour)},
	}
	var got []string
	for _, r := range planAll(images) {
		got = append(got, fmt.Sprintf("%s:%s", r.Image.ID, r.Reason))
	}
	if g := strings.Join(got, " "); g != "b:requested c:requested" {
		t.Fatalf("planAll = %q", g)
	}
}

// TestRefForms: a service's image reference matches a local image by tag
// or by repo digest, whichever form Swarm kept.
func TestRefForms(t *testing.T) {
	for in, want := range map[string][]string{
		"127.0.0.1:5000/acme/web:b3":                  {"127.0.0.1:5000/acme/web:b3"},
		"127.0.0.1:5000/acme/web@sha256:abc":          {"127.0.0.1:5000/acme/web@sha256:abc", "127.0.0.1:5000/acme/web@sha256:abc"},
		"127.0.0.1:5000/acme/web:b3@sha256:abc":       {"127.0.0.1:5000/acme/web:b3@sha256:abc", "127.0.0.1:5000/acme/web:b3", "127.0.0.1:5000/acme/web@sha256:abc"},
		"registry.example.com/acme/web@sha256:abcdef": {"registry.example.com/acme/web@sha256:abcdef", "registry.example.com/acme/web@sha256:abcdef"},
	} {
		if got := refForms(in); !slices.Equal(got, want) {
			t.Errorf("refForms(%s) = %v, want %v", in, got, want)
		}
	}
}
