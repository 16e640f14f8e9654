package v1_test

import (
	"encoding/json"
	"net/http"
	"sort"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/skypanel/paas/api/openapi"
)

// TestEveryListIsBounded walks the OpenAPI document: every operation that
// answers a list (an object with items) takes limit and cursor, refuses
// absurd limits with 400 naming limit, and answers at most limit items.
func TestEveryListIsBounded(t *testing.T) {
	t.Parallel()
	f := setup(t)
	f.createApp(f.alice.token, "web", map[string]any{"image": "nginx"})
	for _, name := range []string{"one", "two", "three"} {
		f.do(f.alice.token, "POST", "/api/auth/tokens", map[string]any{"name": name}).want(201)
	}
	spec, err := openapi.GetSwagger()
	if err != nil {
		t.Fatal(err)
	}
	var lists []string
	for path, item := range spec.Paths.Map() {
		op := item.Get
		if op == nil || !answersList(op) {
			continue
		}
		lists = append(lists, op.OperationID)
		t.Run(op.OperationID, func(t *testing.T) {
			f := f.on(t)
			if !hasParam(op, "limit") || !hasParam(op, "cursor") {
				t.Fatalf("%s answers a list but takes no limit and cursor", op.OperationID)
			}
			token := f.alice.token
			if strings.HasPrefix(path, "/api/admin/") {
				token = f.admin.token
			}
			url := strings.NewReplacer("{app}", "web", "{organization}", "acme").Replace(path)
			for _, bad := range []string{"0", "-1", "501", "1000000", "99999999999999999999", "abc"} {
				p := f.do(token, "GET", url+"?limit="+bad, nil).problem(http.StatusBadRequest, "malformed-request")
				if len(p.Errors) == 0 || p.Errors[0].Field != "limit" {
					t.Fatalf("limit=%s: problem %+v does not name limit", bad, p)
				}
			}
			f.do(token, "GET", url+"?limit=500", nil).want(200)
			var page struct {
				Items      []json.RawMessage `json:"items"`
				NextCursor string            `json:"next_cursor"`
			}
			f.do(token, "GET", url+"?limit=1", nil).want(200).decode(&page)
			if len(page.Items) > 1 {
				t.Fatalf("limit=1 answered %d items", len(page.Items))
			}
		})
	}
	sort.Strings(lists)
	if len(lists) < 10 {
		t.Fatalf("only %d list operations found: %v", len(lists), lists)
	}
}

// answersList reports whether an operation's 200 answer is a JSON object
// with an items array.
func answersList(op *openapi3.Operation) bool {
	r := op.Responses.Value("200")
	if r == nil || r.Value == nil {
		return false
	}
	mt := r.Value.Content.Get("application/json")
	if mt == nil || mt.Schema == nil || mt.Schema.Value == nil {
		return false
	}
	items := mt.Schema.Value.Properties["items"]
	return items != nil && items.Value != nil && items.Value.Type.Is("array")
}

func hasParam(op *openapi3.Operation, name string) bool {
	for _, p := range op.Parameters {
		if p.Value != nil && p.Value.Name == name {
			return true
		}
	}
	return false
}

// TestListPagesFollow: the lists that gained pages walk to their end
// through next_cursor, each item once.
func TestListPagesFollow(t *testing.T) {
	t.Parallel()
	f := setup(t)
	for _, name := range []string{"a", "b", "c", "d", "e"} {
		f.do(f.alice.token, "POST", "/api/auth/tokens", map[string]any{"name": name}).want(201)
	}
	for _, email := range []string{"bob@example.com", "carol@example.com", "dave@example.com"} {
		f.do(f.admin.token, "POST", "/api/admin/paas/organizations/acme/members", map[string]any{"email": email, "role": "viewer"}).want(200)
	}
	f.do(f.admin.token, "PUT", "/api/admin/paas/settings", map[string]any{"settings": []map[string]any{
		{"key": "a_setting", "value": "1"}, {"key": "b_setting", "value": "2"}, {"key": "c_setting", "value": "3"}}}).want(200)
	for _, c := range []struct {
		token, path, key string
		want             int
	}{
		{f.alice.token, "/api/auth/tokens", "id", 5},
		{f.admin.token, "/api/admin/paas/organizations/acme/members", "email", 4},
		{f.alice.token, "/api/paas/plans", "name", 4},
		{f.admin.token, "/api/admin/paas/plans", "name", 4},
		{f.admin.token, "/api/admin/paas/settings", "key", -1},
	} {
		seen := map[string]bool{}
		cursor := ""
		for pages := 0; ; pages++ {
			if pages > 20 {
				t.Fatalf("%s: no end after 20 pages", c.path)
			}
			var page struct {
				Items      []map[string]any `json:"items"`
				NextCursor string           `json:"next_cursor"`
			}
			f.do(c.token, "GET", c.path+"?limit=2&cursor="+cursor, nil).want(200).decode(&page)
			for _, it := range page.Items {
				k, _ := it[c.key].(string)
				if seen[k] {
					t.Fatalf("%s: %s twice", c.path, k)
				}
				seen[k] = true
			}
			if page.NextCursor == "" {
				break
			}
			cursor = page.NextCursor
		}
		if c.want >= 0 && len(seen) != c.want || c.want < 0 && len(seen) < 3 {
			t.Fatalf("%s: walked %d items, want %d", c.path, len(seen), c.want)
		}
	}
}
