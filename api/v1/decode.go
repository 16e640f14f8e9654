package v1

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"reflect"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/skypanel/paas/api/problem"
)

// readBody reads the whole request body (bounded by the bodyLimit middleware).
func readBody(c echo.Context) ([]byte, error) {
	if c.Request().Body == nil {
		return nil, nil
	}
	b, err := io.ReadAll(c.Request().Body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, tooLarge(mbe.Limit)
		}
		return nil, problem.Malformed("could not read the request body")
	}
	return b, nil
}

// requireMediaType refuses a body whose Content-Type is set to something
// other than JSON (any application/*+json is fine); an absent Content-Type
// is taken as JSON.
func requireJSONMediaType(c echo.Context) error {
	ct := c.Request().Header.Get(echo.HeaderContentType)
	if ct == "" {
		return nil
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err == nil && (mt == "application/json" || (strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+json"))) {
		return nil
	}
	return problem.New(http.StatusUnsupportedMediaType, problem.TypeUnsupportedMediaType, "Unsupported media type",
		fmt.Sprintf("send the body as application/json, not %q", ct))
}

// readJSON reads a JSON object body into v, rejecting unknown fields,
// wrong types, trailing data and anything but an object at the top.
func readJSON(c echo.Context, v any) error {
	if err := requireJSONMediaType(c); err != nil {
		return err
	}
	body, err := readBody(c)
	if err != nil {
		return err
	}
	return decodeStrict(body, v, "")
}

// decodeStrict decodes one JSON object into v; field paths in errors are
// prefixed with prefix (e.g. "spec.").
func decodeStrict(data []byte, v any, prefix string) error {
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 {
		return problem.Malformed("the request body is empty: send a JSON object")
	}
	if trimmed[0] != '{' {
		if prefix != "" {
			return problem.Malformed("", problem.FieldError{Field: strings.TrimSuffix(prefix, "."), Message: "must be a JSON object"})
		}
		return problem.Malformed("the request body must be a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(trimmed))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonProblem(err, prefix)
	}
	if _, err := dec.Token(); err != io.EOF {
		return problem.Malformed("unexpected data after the JSON object")
	}
	return nil
}

// jsonProblem turns a decoding error into a 400 naming the field when it can.
func jsonProblem(err error, prefix string) *problem.Problem {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return problem.Malformed(fmt.Sprintf("invalid JSON at byte %d: %s", syn.Offset, syn.Error()))
	case errors.As(err, &typ):
		field := strings.TrimSuffix(prefix, ".")
		if typ.Field != "" {
			field = prefix + typ.Field
		}
		return problem.Malformed("a field has the wrong type",
			problem.FieldError{Field: cmp.Or(field, "(body)"), Message: fmt.Sprintf("must be %s, not %s", kindName(typ.Type), typ.Value)})
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return problem.Malformed("the JSON is truncated")
	}
	msg := err.Error()
	if name, ok := strings.CutPrefix(msg, "json: unknown field "); ok {
		name = strings.Trim(name, `"`)
		return problem.Malformed("the body has an unknown field",
			problem.FieldError{Field: prefix + name, Message: "unknown field"})
	}
	return problem.Malformed("invalid JSON: " + msg)
}

func kindName(t reflect.Type) string {
	if t == nil {
		return "another type"
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Map, reflect.Struct:
		return "an object"
	}
	return "another type"
}
