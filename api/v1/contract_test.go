package v1_test

import (
	"context"
	"net/http"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/skypanel/paas/api/client"
	"github.com/skypanel/paas/api/openapi"
)

// TestOpenAPIDocument serves the contract and checks it is a valid OpenAPI
// 3 document describing exactly the routes the server has.
func TestOpenAPIDocument(t *testing.T) {
	t.Parallel()
	f := setup(t)
	r := f.do("", "GET", "/api/openapi.json", nil).want(200)
	if !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		t.Fatalf("content type %s", r.Header.Get("Content-Type"))
	}
	doc, err := openapi3.NewLoader().LoadFromData(r.Body)
	if err != nil {
		t.Fatal(err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("served document is invalid: %v", err)
	}

	inSpec := map[string]bool{}
	param := regexp.MustCompile(`\{([^}]+)\}`)
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			inSpec[method+" "+param.ReplaceAllString(path, ":$1")] = true
			if op.OperationID == "" || op.Responses.Value("200") == nil && op.Responses.Value("201") == nil &&
				op.Responses.Value("202") == nil && op.Responses.Value("204") == nil {
				t.Errorf("%s %s has no operationId or success response", method, path)
			}
		}
	}
	served := map[string]bool{}
	for _, rt := range f.api.Handler().Routes() {
		if strings.HasPrefix(rt.Path, "/api/") && rt.Method != "echo_route_any" {
			served[rt.Method+" "+rt.Path] = true
		}
	}
	var onlySpec, onlyServed []string
	for k := range inSpec {
		if !served[k] {
			onlySpec = append(onlySpec, k)
		}
	}
	for k := range served {
		if !inSpec[k] {
			onlyServed = append(onlyServed, k)
		}
	}
	sort.Strings(onlySpec)
	sort.Strings(onlyServed)
	if len(onlySpec)+len(onlyServed) > 0 {
		t.Fatalf("routes differ from the contract: only in the document %v; only served %v", onlySpec, onlyServed)
	}
	if len(inSpec) < 45 {
		t.Fatalf("only %d operations", len(inSpec))
	}
}

// TestGeneratedClient drives the API with the generated Go client (the one
// paasctl uses), proving both sides agree on the wire format.
func TestGeneratedClient(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx := context.Background()
	auth := client.WithRequestEditorFn(func(_ context.Context, r *http.Request) error {
		r.Header.Set("Authorization", "Bearer "+f.alice.token)
		return nil
	})
	c, err := client.NewClientWithResponses(f.srv.URL, auth)
	if err != nil {
		t.Fatal(err)
	}
	replicas, plan, image := 1, "standard", "paas-testapp:v1"
	env := map[string]string{"GREETING": "hi"}
	created, err := c.CreateAppWithResponse(ctx, &client.CreateAppParams{}, client.CreateAppRequest{Name: "web",
		Spec: client.AppSpecInput{Image: &image, Replicas: &replicas, Plan: &plan, Env: &env}})
	if err != nil || created.JSON201 == nil {
		t.Fatalf("create: %v %s", err, created.Body)
	}
	if created.JSON201.Spec.Plan != "standard" || created.JSON201.Spec.Env["GREETING"] != "hi" {
		t.Fatalf("created = %+v", created.JSON201)
	}
	got, err := c.GetAppWithResponse(ctx, "web", &client.GetAppParams{})
	if err != nil || got.JSON200 == nil || got.JSON200.Id != created.JSON201.Id {
		t.Fatalf("get: %v %s", err, got.Body)
	}
	three := 3
	patched, err := c.PatchAppWithApplicationMergePatchPlusJSONBodyWithResponse(ctx, "web", &client.PatchAppParams{},
		client.AppPatch{Spec: &client.AppSpecPatch{Replicas: &three}})
	if err != nil || patched.JSON200 == nil || patched.JSON200.Spec.Replicas != 3 {
		t.Fatalf("patch: %v %s", err, patched.Body)
	}
	missing, err := c.GetAppWithResponse(ctx, "nope", &client.GetAppParams{})
	if err != nil || missing.ApplicationproblemJSON404 == nil || missing.ApplicationproblemJSON404.Status != 404 {
		t.Fatalf("missing: %v %s", err, missing.Body)
	}
	bad, err := c.ScaleAppWithResponse(ctx, "web", &client.ScaleAppParams{}, client.ScaleRequest{Replicas: 9})
	if err != nil || bad.ApplicationproblemJSON422 == nil || bad.ApplicationproblemJSON422.Errors == nil || (*bad.ApplicationproblemJSON422.Errors)[0].Field != "replicas" {
		t.Fatalf("scale: %v %s", err, bad.Body)
	}
	list, err := c.ListAppsWithResponse(ctx, &client.ListAppsParams{})
	if err != nil || list.JSON200 == nil || len(list.JSON200.Items) != 1 {
		t.Fatalf("list: %v %s", err, list.Body)
	}
	_ = openapi.App{}
}
