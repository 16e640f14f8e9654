package v1

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/google/uuid"

	"github.com/skypanel/paas/api/problem"
	"github.com/skypanel/paas/store"
	"github.com/skypanel/paas/store/spec"
)

// defaultMaxDomainsPerApp is max_domains_per_app when the setting is unset.
const defaultMaxDomainsPerApp = 20

// maxDomainsListed bounds spec.domains before any setting is read, so a
// huge list costs no more than a refusal.
const maxDomainsListed = 1000

// parseDomains validates and normalises the hostnames of spec.domains
// (field is its path); the result is sorted, without duplicates.
func parseDomains(field string, in []string) ([]string, []problem.FieldError) {
	if len(in) > maxDomainsListed {
		return nil, []problem.FieldError{fe(field, fmt.Sprintf("at most %d hostnames", maxDomainsListed))}
	}
	var errs []problem.FieldError
	seen := make(map[string]bool, len(in))
	out := make([]string, 0, len(in))
	for i, h := range in {
		f := fmt.Sprintf("%s[%d]", field, i)
		norm, err := spec.Hostname(h)
		if err != nil {
			errs = append(errs, fe(f, err.Error()))
			continue
		}
		if seen[norm] {
			errs = append(errs, fe(f, fmt.Sprintf("lists %q twice", norm)))
			continue
		}
		seen[norm] = true
		out = append(out, norm)
	}
	slices.Sort(out)
	return out, errs
}

// defaultDomain reads the default_domain setting, normalised for
// comparison with hostnames ("" when unset).
func defaultDomain(ctx context.Context, q store.SettingGetter) (string, error) {
	st, err := q.GetSetting(ctx, "default_domain")
	if store.IsNotFound(err) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read default_domain: %w", err)
	}
	if st.Value == nil {
		return "", nil
	}
	return strings.ToLower(strings.TrimSuffix(strings.TrimSpace(*st.Value), ".")), nil
}

// underDomain reports whether host is domain or a name below it.
func underDomain(host, domain string) bool {
	return domain != "" && (host == domain || strings.HasSuffix(host, "."+domain))
}

// checkDomainRules holds the hostnames a write adds to the rules that need
// the database: none under default_domain, and at most max_domains_per_app
// in all. field names the request field the hostnames came from.
func checkDomainRules(ctx context.Context, q *store.Queries, added, all []string, field string) ([]problem.FieldError, error) {
	if len(added) == 0 {
		return nil, nil
	}
	dd, err := defaultDomain(ctx, q)
	if err != nil {
		return nil, err
	}
	var errs []problem.FieldError
	for _, h := range added {
		if underDomain(h, dd) {
			errs = append(errs, fe(field, fmt.Sprintf("%q is under %s: every app already has a hostname under %s", h, dd, dd)))
		}
	}
	if len(errs) > 0 {
		return errs, nil
	}
	max, err := store.IntSetting(ctx, q, "max_domains_per_app", defaultMaxDomainsPerApp)
	if err != nil {
		return nil, err
	}
	if n := int64(len(all)); max > 0 && n > max {
		return nil, problem.LimitExceeded(http.StatusConflict, "max_domains_per_app", max, n,
			fmt.Sprintf("an app may have at most %d domains (max_domains_per_app); this would make %d, remove some first", max, n))
	}
	return nil, nil
}

// writeDomains applies a change of an app's domains: removals first, then
// additions, which start pending. A hostname another app holds (in any
// organization) answers 409 without saying which.
func writeDomains(ctx context.Context, q *store.Queries, appID uuid.UUID, ch change) error {
	for _, h := range ch.DomainsDel {
		if _, err := q.APIDeleteDomainByHostname(ctx, store.APIDeleteDomainByHostnameParams{AppID: appID, Hostname: h}); err != nil {
			return fmt.Errorf("remove domain %s: %w", h, err)
		}
	}
	for _, h := range ch.DomainsAdd {
		if _, err := q.CreateDomain(ctx, store.CreateDomainParams{AppID: appID, Hostname: h}); err != nil {
			if _, ok := store.IsUniqueViolation(err); ok {
				return problem.Conflict(fmt.Sprintf("the hostname %q is already used by another app of this platform", h))
			}
			return fmt.Errorf("add domain %s: %w", h, err)
		}
	}
	return nil
}
