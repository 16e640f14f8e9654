package v1

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/distribution/reference"

	"github.com/skypanel/paas/api/problem"
	"github.com/skypanel/paas/store"
)

// An app may only run images it could pull itself, named by a repository.
// An image id (or a name Docker would take for an id prefix) names
// whatever image happens to sit on a node, perhaps one another tenant
// pulled with credentials of its own; the reconciler would run it without
// any pull that could refuse.

// settingAllowedRegistries names the registries apps may pull from
// (comma-separated hosts, "host:port" included); empty allows any.
const settingAllowedRegistries = "allowed_registries"

var (
	// imageID is an image id or a digest as Docker prints them
	// (sha256:<hex>), without a repository.
	imageID = regexp.MustCompile(`^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[0-9a-fA-F]{32,}$`)
	// hexName is a bare name (no registry, path, tag or digest) made of hex
	// digits only: Docker resolves it as an image id prefix before any pull.
	hexName = regexp.MustCompile(`^[0-9a-f]+$`)
	// registryHost is one entry of allowed_registries.
	registryHost = regexp.MustCompile(`^` + reference.DomainRegexp.String() + `$`)
)

const repositoryHint = "must name a repository to pull from, such as nginx:1.27 or registry.example.com/team/app@sha256:…"

// checkImage parses an image reference as Docker does and refuses those
// that name no repository.
func checkImage(field, image string) []problem.FieldError {
	switch {
	case image == "":
		return []problem.FieldError{fe(field, "is required")}
	case len(image) > maxImageLen:
		return []problem.FieldError{fe(field, fmt.Sprintf("must be at most %d characters", maxImageLen))}
	case strings.HasPrefix(image, "@"):
		return []problem.FieldError{fe(field, "is a digest without a repository: "+repositoryHint)}
	case imageID.MatchString(image), len(image) == 64 && hexName.MatchString(image):
		return []problem.FieldError{fe(field, "is an image id, which names an image on one node, not one to pull: "+repositoryHint)}
	case hexName.MatchString(image):
		return []problem.FieldError{fe(field, "looks like an image id (Docker would run a local image whose id starts so): "+repositoryHint+
			"; add a tag (:latest) or the registry (docker.io/library/"+image+") if it is a repository")}
	}
	if _, err := reference.ParseNormalizedNamed(image); err != nil {
		return []problem.FieldError{fe(field, "is not a valid image reference: "+err.Error())}
	}
	return nil
}

// hasField reports whether errs already name field.
func hasField(errs []problem.FieldError, field string) bool {
	return slices.ContainsFunc(errs, func(e problem.FieldError) bool { return e.Field == field })
}

// registries is the allowed_registries setting, normalized: lowercase
// hosts; empty allows any.
type registries []string

// parseRegistries reads allowed_registries; entries that are not hosts
// are reported in bad (the admin route refuses them; a value written
// straight into the table drops them).
func parseRegistries(value string) (out registries, bad []string) {
	for _, h := range strings.Split(value, ",") {
		h = strings.ToLower(strings.TrimSpace(h))
		switch {
		case h == "":
		case !registryHost.MatchString(h):
			bad = append(bad, h)
		case h == "index.docker.io":
			// Docker's legacy name for Docker Hub; references normalize to docker.io.
			out = append(out, "docker.io")
		default:
			out = append(out, h)
		}
	}
	return out, bad
}

// loadRegistries reads allowed_registries in q's transaction.
func loadRegistries(ctx context.Context, q *store.Queries) (registries, error) {
	st, err := q.GetSetting(ctx, settingAllowedRegistries)
	if store.IsNotFound(err) || (err == nil && st.Value == nil) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	r, _ := parseRegistries(*st.Value)
	return r, nil
}

// check refuses an image from a registry not allowed, naming the allowed
// ones; references that do not parse are checkImage's to report.
func (r registries) check(field, image string) []problem.FieldError {
	if len(r) == 0 {
		return nil
	}
	named, err := reference.ParseNormalizedNamed(image)
	if err != nil {
		return nil
	}
	host := strings.ToLower(reference.Domain(named))
	if slices.Contains(r, host) {
		return nil
	}
	return []problem.FieldError{fe(field, fmt.Sprintf("%s comes from registry %s, which is not allowed: images may come from %s (setting %s)",
		image, host, strings.Join(r, ", "), settingAllowedRegistries))}
}

// checkImageAllowed runs every image check that needs the database: the
// reference's syntax again (a rollback restores an image written before
// the rules) and allowed_registries.
func checkImageAllowed(ctx context.Context, q *store.Queries, orgSlug, field, image string) ([]problem.FieldError, error) {
	if errs := checkImage(field, image); len(errs) > 0 {
		return errs, nil
	}
	r, err := loadRegistries(ctx, q)
	if err != nil {
		return nil, err
	}
	if errs := r.check(field, image); len(errs) > 0 {
		return errs, nil
	}
	buildRegistry, err := store.StringSetting(ctx, q, "registry_url")
	if err != nil {
		return nil, err
	}
	return checkBuiltImageOwner(buildRegistry, orgSlug, field, image), nil
}

// checkBuiltImageOwner refuses an image under another organization's
// namespace of the build registry (<registry_url>/<org>/…): that is what
// its builds pushed, its code, and the registry serves it to any node
// without credentials, so only the API can keep one tenant from running
// another's.
func checkBuiltImageOwner(buildRegistry, orgSlug, field, image string) []problem.FieldError {
	buildRegistry = strings.ToLower(strings.TrimSuffix(strings.TrimPrefix(strings.TrimPrefix(buildRegistry, "http://"), "https://"), "/"))
	named, err := reference.ParseNormalizedNamed(image)
	if buildRegistry == "" || err != nil {
		return nil
	}
	rest, ok := strings.CutPrefix(strings.ToLower(named.Name()), buildRegistry+"/")
	if !ok {
		return nil
	}
	if owner, _, _ := strings.Cut(rest, "/"); owner != strings.ToLower(orgSlug) {
		return []problem.FieldError{fe(field, fmt.Sprintf("%s is an image another organization built (the build registry %s keeps each organization's builds under its own name); build yours from source instead",
			image, buildRegistry))}
	}
	return nil
}
