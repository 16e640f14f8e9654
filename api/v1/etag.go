package v1

import (
	"strconv"
	"strings"
)

// etagOf is the ETag of an app at a version; the version moves on every
// write of the app's row, so a matching If-Match means nothing changed.
func etagOf(version int64) string { return `"` + strconv.FormatInt(version, 10) + `"` }

// etagMatches compares an If-Match header with the app's version; it
// accepts "N", W/"N", N and *.
func etagMatches(header string, version int64) bool {
	for _, tag := range strings.Split(header, ",") {
		tag = strings.TrimSpace(tag)
		if tag == "*" {
			return true
		}
		tag = strings.Trim(strings.TrimPrefix(tag, "W/"), `"`)
		if tag == strconv.FormatInt(version, 10) {
			return true
		}
	}
	return false
}
