package v1

import (
	"strings"
	"unicode/utf8"

	"github.com/google/uuid"
)

// identOf splits an app (or plan, organization) identifier into the id it
// may be and the name it may be.
func identOf(s string) (uuid.UUID, string) {
	if !dbText(s) {
		// Postgres refuses such text; "" matches no name.
		return uuid.Nil, ""
	}
	if id, err := uuid.Parse(s); err == nil {
		return id, s
	}
	return uuid.Nil, s
}

// dbText reports whether Postgres accepts s as text: valid UTF-8, no NUL.
// Strings from paths, queries and headers are checked before they reach a
// query, so odd bytes answer 4xx, never 500.
func dbText(s string) bool {
	return utf8.ValidString(s) && strings.IndexByte(s, 0) < 0
}
