package route

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/docker/docker/api/types/swarm"
	"github.com/google/uuid"

	"github.com/skypanel/paas/controllers/network"
	"github.com/skypanel/paas/controllers/runtime"
	"github.com/skypanel/paas/controllers/servicespec"
	"github.com/skypanel/paas/controllers/servicewrite"
	"github.com/skypanel/paas/controllers/status"
	"github.com/skypanel/paas/deploy/infra"
	"github.com/skypanel/paas/store"
	"github.com/skypanel/paas/store/key"
	"github.com/skypanel/paas/store/spec"
)

// Name is the route loop's name in the registry, events and metrics.
const Name = "route"

// Owns is what the route loop writes of an app's service: every traefik.* label.
var Owns = servicespec.Fields{LabelPrefixes: []string{LabelPrefix}}

// DefaultCertResolver is the ACME resolver of the Traefik static
// configuration `paasd init` renders.
const DefaultCertResolver = infra.CertResolver

// Store is the part of the database the route loop uses.
type Store interface {
	GetAppDesired(ctx context.Context, id uuid.UUID) (store.GetAppDesiredRow, error)
	GetSetting(ctx context.Context, key string) (store.Setting, error)
	ListDomains(ctx context.Context, appID uuid.UUID) ([]store.Domain, error)
	MarkDomainsRouted(ctx context.Context, arg store.MarkDomainsRoutedParams) (int64, error)
	status.Store
}

// Writer writes the route loop's labels of a service.
type Writer interface {
	Update(ctx context.Context, loop string, app uuid.UUID, plan servicewrite.PlanFunc) (*swarm.Service, error)
}

// Reconciler is the route loop; configure it by fields.
type Reconciler struct {
	// Store reads the app, its domains and the default domain, and records
	// the Routed condition and which domains are routed.
	Store Store
	// Writer writes the traefik.* labels.
	Writer Writer
	// InstanceID names the organization networks Traefik reaches apps on.
	InstanceID string
	// CertResolver names Traefik's ACME resolver (DefaultCertResolver if empty).
	CertResolver string
	// Now reads the clock for conditions.
	Now func() time.Time
}

// Desired is what the route loop reads of an app to route it.
type Desired struct {
	// App is the app with its plan and organization.
	App store.GetAppDesiredRow
	// DefaultDomain is the default_domain setting ("" when unset).
	DefaultDomain string
	// Domains are the app's custom domains.
	Domains []store.Domain
}

// Decision is what the route loop decides for one app from Desired: the
// routes, the domains they include, and the Routed condition.
type Decision struct {
	// Routes are the routes the labels must say.
	Routes Routes
	// Routed are the custom domains among Routes.Hostnames.
	Routed []uuid.UUID
	// Condition is the Routed condition once the labels are live.
	Condition servicespec.Condition
	// Wait says the app cannot be routed yet (no organization network);
	// the labels are left as they are.
	Wait bool
}

// Decide computes the routes of an app: its default hostname under the
// default domain and every custom domain whose proof was found, unless the
// app is stopped or suspended. Pure: the loop does the reading and writing.
func Decide(d Desired, instance, resolver string) Decision {
	a := d.App.App
	cond := func(st, reason, msg string) servicespec.Condition {
		return servicespec.Condition{Type: servicespec.ConditionRouted, Status: st, Reason: reason, Message: msg}
	}
	if d.App.OrgNetworkID == nil {
		return Decision{Wait: true, Condition: cond(servicespec.StatusFalse, "NetworkPending",
			"waiting for the organization's network, which Traefik reaches the app on")}
	}
	r := Routes{App: a.ID, Network: network.NetworkName(instance, a.OrganizationID), Port: int(a.Port), CertResolver: resolver}
	var problems []string
	if d.DefaultDomain != "" {
		if h, err := spec.Hostname(a.DefaultHostLabel + "." + d.DefaultDomain); err == nil {
			r.Hostnames = append(r.Hostnames, h)
		} else {
			problems = append(problems, fmt.Sprintf("the default_domain setting %q gives no valid hostname (it %v)", d.DefaultDomain, err))
		}
	}
	var routed []uuid.UUID
	for _, dm := range d.Domains {
		switch dm.Status {
		case store.DomainVerified, store.DomainRouted:
			if h, err := spec.Hostname(dm.Hostname); err == nil && h == dm.Hostname {
				r.Hostnames = append(r.Hostnames, h)
				routed = append(routed, dm.ID)
			}
		case store.DomainFailed:
			problems = append(problems, dm.Hostname+" is not routed: "+cmp.Or(dm.LastError, "its proof of ownership was not found"))
		}
	}
	slices.Sort(r.Hostnames)
	switch {
	case d.App.OrgSuspended:
		return Decision{Routes: r, Condition: cond(servicespec.StatusFalse, "Suspended", "not routed while the organization is suspended")}
	case a.Stopped:
		return Decision{Routes: r, Condition: cond(servicespec.StatusFalse, "AppStopped", "not routed while the app is stopped")}
	case len(r.Hostnames) == 0 && len(problems) > 0:
		return Decision{Routes: r, Condition: cond(servicespec.StatusFalse, "DomainUnverified", strings.Join(problems, "; "))}
	case len(r.Hostnames) == 0:
		return Decision{Routes: r, Condition: cond(servicespec.StatusFalse, "NoHostnames",
			"no hostname to route: set the default_domain setting or add and verify a domain")}
	}
	r.Enabled = true
	msg := "routes " + strings.Join(r.Hostnames, ", ") + " over HTTPS"
	if len(problems) > 0 {
		return Decision{Routes: r, Routed: routed, Condition: cond(servicespec.StatusTrue, "PartlyRouted", msg+"; "+strings.Join(problems, "; "))}
	}
	return Decision{Routes: r, Routed: routed, Condition: cond(servicespec.StatusTrue, "Routed", msg)}
}

// Reconcile converges one app's traefik.* labels, then records which of
// its domains are routed and its Routed condition. A missing service is
// the app loop's to create (its creation wakes this loop); a deleted app
// is the app loop's to remove, routes and all.
func (r *Reconciler) Reconcile(ctx context.Context, k key.Key) (runtime.Result, error) {
	id, err := k.UUID()
	if err != nil {
		return runtime.Result{}, nil // malformed keys are dropped, not retried
	}
	d, err := r.read(ctx, id)
	if store.IsNotFound(err) {
		return runtime.Result{}, nil
	}
	if err != nil {
		return runtime.Result{}, err
	}
	if d.App.App.DeletedAt != nil {
		return runtime.Result{}, nil
	}
	dec := Decide(d, r.InstanceID, cmp.Or(r.CertResolver, DefaultCertResolver))
	if dec.Wait {
		return runtime.Result{}, r.setRouted(ctx, d, dec.Condition)
	}
	wasRouted := false
	if c := servicespec.FindCondition(conditions(d), servicespec.ConditionRouted); c != nil {
		wasRouted = c.Status == servicespec.StatusTrue
	}
	svc, err := r.Writer.Update(ctx, Name, id, func(live swarm.Service) (*servicewrite.Change, error) {
		p := PlanLabels(dec.Routes, live.Spec.Labels, wasRouted)
		if !p.Update {
			return nil, nil
		}
		spec := live.Spec
		spec.Labels = p.Labels // the writer's merge keeps every label but traefik.* from live
		ch := &servicewrite.Change{Spec: spec, Type: servicewrite.Normal, Reason: p.Reason, Message: p.Message}
		if p.Drift {
			ch.Type = servicewrite.Warning
		}
		return ch, nil
	})
	if err != nil {
		return runtime.Result{}, err
	}
	if svc == nil {
		return runtime.Result{}, r.setRouted(ctx, d, servicespec.Condition{Type: servicespec.ConditionRouted,
			Status: servicespec.StatusFalse, Reason: "ServicePending", Message: "the app has no service yet"})
	}
	routed := dec.Routed
	if !dec.Routes.Enabled {
		routed = nil
	}
	if domainsToMark(d.Domains, routed) {
		if _, err := r.Store.MarkDomainsRouted(ctx, store.MarkDomainsRoutedParams{AppID: id, Routed: nonNil(routed)}); err != nil {
			return runtime.Result{}, fmt.Errorf("mark domains routed: %w", err)
		}
	}
	return runtime.Result{}, r.setRouted(ctx, d, dec.Condition)
}

// read loads what the loop routes an app from.
func (r *Reconciler) read(ctx context.Context, id uuid.UUID) (Desired, error) {
	row, err := r.Store.GetAppDesired(ctx, id)
	if err != nil {
		return Desired{}, err
	}
	dd, err := store.StringSetting(ctx, r.Store, "default_domain")
	if err != nil {
		return Desired{}, fmt.Errorf("read default_domain: %w", err)
	}
	domains, err := r.Store.ListDomains(ctx, id)
	if err != nil {
		return Desired{}, fmt.Errorf("list domains: %w", err)
	}
	return Desired{App: row, DefaultDomain: strings.TrimPrefix(strings.ToLower(dd), "."), Domains: domains}, nil
}

// setRouted records the Routed condition when it changed.
func (r *Reconciler) setRouted(ctx context.Context, d Desired, c servicespec.Condition) error {
	want := []servicespec.Condition{c}
	if !status.Differ(conditions(d), want) {
		return nil
	}
	return status.SetConditions(ctx, r.Store, d.App.App.ID, want, r.Now())
}

// conditions decodes the app's stored conditions; a bad column reads as none.
func conditions(d Desired) []servicespec.Condition {
	conds, _ := status.Decode(d.App.App.Conditions)
	return conds
}

// domainsToMark says whether a domain's status disagrees with the routes
// now live: verified but routed, or marked routed but no longer routed.
// Most reconciles change nothing, and then write nothing.
func domainsToMark(domains []store.Domain, routed []uuid.UUID) bool {
	for _, d := range domains {
		in := slices.Contains(routed, d.ID)
		if (d.Status == store.DomainVerified && in) || (d.Status == store.DomainRouted && !in) {
			return true
		}
	}
	return false
}

func nonNil(ids []uuid.UUID) []uuid.UUID {
	if ids == nil {
		return []uuid.UUID{}
	}
	return ids
}
