// Package key names the objects the reconcile loops act on. A key is
// "<kind>/<name>" (app/<uuid>, node/<swarm node id>, ...): it is the work
// queue item, the payload of every desired-state notification and the
// routing unit of the controller registry. Keys are parsed here and
// nowhere else.
package key

import (
	"fmt"
	"strings"

	"github.com/google/uuid"
)

// Kind is the kind of object a key names; it selects the loops that
// reconcile it.
type Kind string

// The kinds the platform knows.
const (
	// KindApp names an app by uuid; its loops converge the app's Swarm service.
	KindApp Kind = "app"
	// KindDomain names a custom domain by uuid; its loop checks the domain's proof of ownership.
	KindDomain Kind = "domain"
	// KindNode names a Swarm node by its Swarm id.
	KindNode Kind = "node"
	// KindOrg names an organization by uuid.
	KindOrg Kind = "org"
)

// MaxLen bounds a key's text: notifications and Docker event actors are
// outside input, and a key is also a log field and a metric-free map key.
const MaxLen = 200

// Key names one object. The zero Key is invalid.
type Key struct {
	// Kind is the object's kind: lower-case letters, digits and '-', starting with a letter.
	Kind Kind
	// Name identifies the object within its kind: printable ASCII without '/' or spaces.
	Name string
}

// New returns the key of kind and name; it does not validate (Parse does).
func New(kind Kind, name string) Key { return Key{Kind: kind, Name: name} }

// App returns the key of an app.
func App(id uuid.UUID) Key { return Key{Kind: KindApp, Name: id.String()} }

// String returns "<kind>/<name>", the form Parse reads.
func (k Key) String() string { return string(k.Kind) + "/" + k.Name }

// Parse reads "<kind>/<name>". The kind must be lower-case letters, digits
// and '-' (starting with a letter); the name printable ASCII without '/' or
// spaces; the whole at most MaxLen bytes.
func Parse(s string) (Key, error) {
	if len(s) > MaxLen {
		return Key{}, fmt.Errorf("key of %d bytes: at most %d", len(s), MaxLen)
	}
	kind, name, ok := strings.Cut(s, "/")
	if !ok || !validKind(kind) || !validName(name) {
		return Key{}, fmt.Errorf("key %q: want <kind>/<name>", s)
	}
	return Key{Kind: Kind(kind), Name: name}, nil
}

// UUID returns the name as a uuid, for kinds named by one (app, org).
func (k Key) UUID() (uuid.UUID, error) {
	id, err := uuid.Parse(k.Name)
	if err != nil {
		return uuid.Nil, fmt.Errorf("key %s: name is not a uuid: %w", k, err)
	}
	return id, nil
}

// ParseApp reads an app key ("app/<uuid>") and returns the app id.
func ParseApp(s string) (uuid.UUID, error) {
	k, err := Parse(s)
	if err != nil {
		return uuid.Nil, err
	}
	if k.Kind != KindApp {
		return uuid.Nil, fmt.Errorf("key %s: want kind %s", s, KindApp)
	}
	return k.UUID()
}

func validKind(s string) bool {
	if s == "" || s[0] < 'a' || s[0] > 'z' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

func validName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c > '~' || c == '/' {
			return false
		}
	}
	return true
}
