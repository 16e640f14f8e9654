// Package problem writes RFC 7807 problem details (application/problem+json),
// the shape of every error the API answers.
package problem

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// ContentType is the media type of a problem document.
const ContentType = "application/problem+json"

// TypeBase prefixes every problem type URI; docs/api.md lists the types.
const TypeBase = "https://skypanel.dev/problems/"

// Problem types, appended to TypeBase.
const (
	TypeMalformed            = "malformed-request"
	TypeValidation           = "validation-failed"
	TypeUnauthorized         = "unauthorized"
	TypeForbidden            = "forbidden"
	TypeNotFound             = "not-found"
	TypeMethodNotAllowed     = "method-not-allowed"
	TypeConflict             = "conflict"
	TypePreconditionFailed   = "precondition-failed"
	TypePayloadTooLarge      = "payload-too-large"
	TypeUnsupportedMediaType = "unsupported-media-type"
	TypeLimitExceeded        = "limit-exceeded"
	TypeRateLimited          = "rate-limited"
	TypeOrganizationRequired = "organization-required"
	TypeNoOrganization       = "no-organization"
	TypeSuspended            = "organization-suspended"
	TypePaymentRequired      = "payment-required"
	TypeDockerUnavailable    = "docker-unavailable"
	TypeUpstreamUnavailable  = "upstream-unavailable"
	TypeNotConfigured        = "not-configured"
	TypeInternal             = "internal-error"
)

// FieldError names one invalid field of a request.
type FieldError struct {
	// Field is the path of the field: name, spec.replicas, spec.env.FOO, spec.command[1].
	Field string `json:"field"`
	// Message says what is wrong, as a sentence fragment.
	Message string `json:"message"`
}

// Problem is an RFC 7807 problem; it is an error so handlers can return it.
type Problem struct {
	Type     string       `json:"type"`
	Title    string       `json:"title"`
	Status   int          `json:"status"`
	Detail   string       `json:"detail,omitempty"`
	Instance string       `json:"instance,omitempty"`
	Errors   []FieldError `json:"errors,omitempty"`
	// Limit names the limit reached (limit-exceeded problems).
	Limit string `json:"limit,omitempty"`
	// LimitValue is the limit's value.
	LimitValue *int64 `json:"limit_value,omitempty"`
	// Current is the count the limit was compared with.
	Current *int64 `json:"current,omitempty"`
	// BalanceMicros is the wallet's balance (payment-required problems).
	BalanceMicros *int64 `json:"balance_micros,omitempty"`
	// RequiredMicros is what the request needs the balance to cover.
	RequiredMicros *int64 `json:"required_micros,omitempty"`
	// Currency is the unit of the amounts.
	Currency string `json:"currency,omitempty"`
	// Organizations lists slugs to choose from (organization-required problems).
	Organizations []string `json:"organizations,omitempty"`

	// RetryAfter, when positive, is sent as the Retry-After header.
	RetryAfter time.Duration `json:"-"`
	// Header holds more headers to send (WWW-Authenticate).
	Header http.Header `json:"-"`
}

// Error describes the problem in one line.
func (p *Problem) Error() string {
	s := fmt.Sprintf("%d %s", p.Status, p.Title)
	if p.Detail != "" {
		s += ": " + p.Detail
	}
	for _, e := range p.Errors {
		s += "; " + e.Field + ": " + e.Message
	}
	return s
}

// New builds a problem of a type from this package.
func New(status int, typ, title, detail string) *Problem {
	return &Problem{Type: TypeBase + typ, Title: title, Status: status, Detail: detail}
}

// Write sends p as the answer.
func Write(w http.ResponseWriter, p *Problem) error {
	h := w.Header()
	for k, vs := range p.Header {
		h[k] = vs
	}
	h.Set("Content-Type", ContentType)
	h.Set("Cache-Control", "no-store")
	if p.RetryAfter > 0 {
		secs := int64((p.RetryAfter + time.Second - 1) / time.Second)
		h.Set("Retry-After", strconv.FormatInt(secs, 10))
	}
	body, err := json.Marshal(p)
	if err != nil {
		return err
	}
	w.WriteHeader(p.Status)
	_, err = w.Write(append(body, '\n'))
	return err
}

// Malformed is a 400 for a request that cannot be read.
func Malformed(detail string, errs ...FieldError) *Problem {
	p := New(http.StatusBadRequest, TypeMalformed, "Malformed request", detail)
	p.Errors = errs
	return p
}

// Invalid is a 422 listing every invalid field.
func Invalid(errs ...FieldError) *Problem {
	p := New(http.StatusUnprocessableEntity, TypeValidation, "Validation failed", summarize(errs))
	p.Errors = errs
	return p
}

func summarize(errs []FieldError) string {
	if len(errs) == 1 {
		return errs[0].Field + ": " + errs[0].Message
	}
	fields := make([]string, 0, len(errs))
	for _, e := range errs {
		fields = append(fields, e.Field)
	}
	return fmt.Sprintf("%d fields are invalid: %s", len(errs), strings.Join(fields, ", "))
}

// Unauthorized is a 401 asking for bearer credentials.
func Unauthorized(detail string) *Problem {
	p := New(http.StatusUnauthorized, TypeUnauthorized, "Unauthorized", detail)
	p.Header = http.Header{"Www-Authenticate": {`Bearer realm="paas"`}}
	return p
}

// Forbidden is a 403.
func Forbidden(detail string) *Problem {
	return New(http.StatusForbidden, TypeForbidden, "Forbidden", detail)
}

// NotFound is a 404 naming what was looked for.
func NotFound(detail string) *Problem {
	return New(http.StatusNotFound, TypeNotFound, "Not found", detail)
}

// Conflict is a 409.
func Conflict(detail string) *Problem {
	return New(http.StatusConflict, TypeConflict, "Conflict", detail)
}

// LimitExceeded is a limit problem naming the limit, its value and the count
// it was compared with.
func LimitExceeded(status int, limit string, value, current int64, detail string) *Problem {
	p := New(status, TypeLimitExceeded, "Limit exceeded", detail)
	p.Limit, p.LimitValue, p.Current = limit, &value, &current
	return p
}

// Internal is a 500 that says nothing of the cause (it is logged instead).
func Internal() *Problem {
	return New(http.StatusInternalServerError, TypeInternal, "Internal server error",
		"the server failed to answer; the error is logged")
}
