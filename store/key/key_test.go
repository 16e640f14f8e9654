package key

import (
	"strings"
	"testing"

	"github.com/google/uuid"
)

func TestParse(t *testing.T) {
	t.Parallel()
	id := uuid.New()
	for _, tc := range []struct {
		in   string
		want Key
		ok   bool
	}{
		{"app/" + id.String(), App(id), true},
		{"node/abc123xyz", New(KindNode, "abc123xyz"), true},
		{"billing-sweep/2026-11-30T13:00Z", New("billing-sweep", "2026-11-30T13:00Z"), true},
		{"", Key{}, false},
		{"app", Key{}, false},
		{"app/", Key{}, false},
		{"/x", Key{}, false},
		{"App/x", Key{}, false},
		{"1app/x", Key{}, false},
		{"app/a/b", Key{}, false},
		{"app/a b", Key{}, false},
		{"app/a\nb", Key{}, false},
		{"app/é", Key{}, false},
		{"app/" + strings.Repeat("x", MaxLen), Key{}, false},
	} {
		got, err := Parse(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("Parse(%q) = %v, %v; want %v ok=%t", tc.in, got, err, tc.want, tc.ok)
		}
		if tc.ok && got.String() != tc.in {
			t.Errorf("Parse(%q).String() = %q", tc.in, got.String())
		}
	}
}

func TestParseApp(t *testing.T) {
	t.Parallel()
	id := uuid.New()
	if got, err := ParseApp("app/" + id.String()); err != nil || got != id {
		t.Fatalf("ParseApp = %v, %v", got, err)
	}
	for _, bad := range []string{"node/" + id.String(), "app/not-a-uuid", "app"} {
		if _, err := ParseApp(bad); err == nil {
			t.Errorf("ParseApp(%q) accepted", bad)
		}
	}
}

// FuzzParse: whatever Parse accepts prints back to the same text, stays
// within MaxLen and has a kind and a name that Parse would accept alone.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"app/6f1c9a9e-5f7e-4a51-9f55-0d4f6ad1b0a1", "node/x", "a/b/c", "", "app/ ", "x-1/\x7f"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		k, err := Parse(s)
		if err != nil {
			return
		}
		if k.String() != s || len(s) > MaxLen || k.Kind == "" || k.Name == "" {
			t.Fatalf("Parse(%q) = %#v", s, k)
		}
		if back, err := Parse(k.String()); err != nil || back != k {
			t.Fatalf("round trip of %q: %v, %v", s, back, err)
		}
	})
}
