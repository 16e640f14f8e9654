package v1

import (
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"testing"
)

func TestPage(t *testing.T) {
	render := func(n int) (string, error) { return "item" + strconv.Itoa(n), nil }
	key := strconv.Itoa
	cases := []struct {
		name  string
		rows  []int
		limit int
		items []string
		next  string // the sort key the cursor encodes; "" for none
	}{
		{name: "empty", rows: nil, limit: 3, items: []string{}},
		{name: "fewer than limit", rows: []int{1, 2}, limit: 3, items: []string{"item1", "item2"}},
		{name: "exactly limit", rows: []int{1, 2, 3}, limit: 3, items: []string{"item1", "item2", "item3"}},
		{name: "one more than limit", rows: []int{1, 2, 3, 4}, limit: 3, items: []string{"item1", "item2", "item3"}, next: "3"},
		{name: "limit one", rows: []int{7, 8}, limit: 1, items: []string{"item7"}, next: "7"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			items, next, err := page(tc.rows, tc.limit, render, key)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(items, tc.items) {
				t.Fatalf("items %q, want %q", items, tc.items)
			}
			want := ""
			if tc.next != "" {
				want = encodeCursor(tc.next)
			}
			if next != want {
				t.Fatalf("next cursor %q, want %q", next, want)
			}
			if next != "" {
				if k, err := decodeCursor(&next); err != nil || k != tc.next {
					t.Fatalf("cursor decodes to %q, %v; want %q", k, err, tc.next)
				}
			}
			// An empty page is an empty JSON list, never null.
			if b, _ := json.Marshal(items); b[0] != '[' {
				t.Fatalf("items marshal to %s", b)
			}
		})
	}
}

func TestPageRenderError(t *testing.T) {
	boom := errors.New("boom")
	var rendered []int
	render := func(n int) (int, error) {
		rendered = append(rendered, n)
		if n == 2 {
			return 0, boom
		}
		return n, nil
	}
	items, next, err := page([]int{1, 2, 3, 4}, 3, render, strconv.Itoa)
	if !errors.Is(err, boom) || items != nil || next != "" {
		t.Fatalf("page = %v, %q, %v; want nil, \"\", boom", items, next, err)
	}
	if !slices.Equal(rendered, []int{1, 2}) {
		t.Fatalf("rendered %v, want it to stop at the failing row", rendered)
	}
}

// The row beyond the page is read only to know there is a next page: it
// is never rendered.
func TestPageRendersOnlyThePage(t *testing.T) {
	var rendered []int
	render := func(n int) (int, error) { rendered = append(rendered, n); return n, nil }
	if _, _, err := page([]int{1, 2, 3}, 2, render, strconv.Itoa); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(rendered, []int{1, 2}) {
		t.Fatalf("rendered %v, want [1 2]", rendered)
	}
}
