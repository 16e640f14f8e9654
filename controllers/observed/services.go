// Package observed caches what the reconcilers observe in Swarm: the
// services of this installation, keyed by app id. A resync fills it with one
// ServiceList call; events refresh one service at a time. Reconcilers read
// here and write straight to Docker, so a resync of N apps costs one list
// call, not N inspects.
package observed

import (
	"context"
	"fmt"
	"sync"

	"github.com/docker/docker/api/types"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/swarm"

	paasswarm "github.com/skypanel/paas/controllers/swarm"
)

// ServiceLister is the one Docker call the cache makes.
type ServiceLister interface {
	ServiceList(ctx context.Context, opts types.ServiceListOptions) ([]swarm.Service, error)
}

// Services is the cache of this installation's services; build it with
// fields set, then call Resync before reading.
type Services struct {
	// Client lists services.
	Client ServiceLister
	// InstanceID selects the services of this installation; services of any
	// other installation are never cached, so never acted upon.
	InstanceID string

	mu sync.RWMutex
	// byApp maps an app id to its service. Invariant: every service in it
	// carries paas.instance == InstanceID and paas.app.id == the key.
	byApp map[string]swarm.Service
	// appOf maps a service id to its app id, so a "remove" event, which
	// carries only the service id, still finds the app to wake.
	appOf map[string]string
	// moving holds the apps whose reconciler asked to hear of changes.
	moving map[string]bool
}

// Resync replaces the cache with one ServiceList (with task counts) and
// returns the app ids of every service found.
func (s *Services) Resync(ctx context.Context) ([]string, error) {
	list, err := s.Client.ServiceList(ctx, types.ServiceListOptions{Filters: paasswarm.InstanceFilter(s.InstanceID), Status: true})
	if err != nil {
		return nil, fmt.Errorf("list services: %w", err)
	}
	byApp := make(map[string]swarm.Service, len(list))
	appOf := make(map[string]string, len(list))
	ids := make([]string, 0, len(list))
	for _, svc := range list {
		app := svc.Spec.Labels[paasswarm.LabelAppID]
		if app == "" {
			continue
		}
		if prev, dup := byApp[app]; dup && prev.CreatedAt.Before(svc.CreatedAt) {
			// Two services claim one app (a crash between create and record
			// could do it): keep the older; the newer is an orphan the
			// reconciler removes by id.
			appOf[svc.ID] = app
			continue
		}
		byApp[app] = svc
		appOf[svc.ID] = app
		ids = append(ids, app)
	}
	s.mu.Lock()
	// A write's refresh may have landed while the list was in flight:
	// never go back to an older version of a service.
	for app, svc := range byApp {
		if cur, ok := s.byApp[app]; ok && cur.ID == svc.ID && cur.Version.Index > svc.Version.Index {
			byApp[app] = cur
		}
	}
	s.byApp, s.appOf = byApp, appOf
	s.mu.Unlock()
	return ids, nil
}

// Watch marks an app as moving (tasks starting, a rollout under way):
// such changes raise no service events, so Poll re-lists while any app is
// watched and reports the ones whose observation changed.
func (s *Services) Watch(appID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.moving == nil {
		s.moving = map[string]bool{}
	}
	s.moving[appID] = true
}

// Unwatch marks an app as settled.
func (s *Services) Unwatch(appID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.moving, appID)
}

// Poll lists the services once when any app is watched and returns the
// apps whose service changed since the last observation (version, task
// counts or update state). One list call serves every moving app: a
// hundred apps rolling out cost one call per poll, not a hundred.
func (s *Services) Poll(ctx context.Context) ([]string, error) {
	s.mu.RLock()
	watched := len(s.moving)
	old := s.byApp
	s.mu.RUnlock()
	if watched == 0 {
		return nil, nil
	}
	if _, err := s.Resync(ctx); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	var changed []string
	for app, svc := range s.byApp {
		if prev, ok := old[app]; !ok || differs(prev, svc) {
			changed = append(changed, app)
		}
	}
	for app := range old {
		if _, ok := s.byApp[app]; !ok {
			changed = append(changed, app)
		}
	}
	return changed, nil
}

// differs reports whether two observations of one service differ in what
// a reconciler reads.
func differs(a, b swarm.Service) bool {
	if a.ID != b.ID || a.Version.Index != b.Version.Index {
		return true
	}
	if (a.ServiceStatus == nil) != (b.ServiceStatus == nil) || (a.ServiceStatus != nil && *a.ServiceStatus != *b.ServiceStatus) {
		return true
	}
	if (a.UpdateStatus == nil) != (b.UpdateStatus == nil) || (a.UpdateStatus != nil && a.UpdateStatus.State != b.UpdateStatus.State) {
		return true
	}
	return false
}

// Refresh re-reads one service after an event or a write and returns the
// app it belongs to; ok is false when the service is not this
// installation's (nor was it).
func (s *Services) Refresh(ctx context.Context, serviceID string) (appID string, ok bool, err error) {
	f := paasswarm.InstanceFilter(s.InstanceID)
	f.Add("id", serviceID)
	list, err := s.Client.ServiceList(ctx, types.ServiceListOptions{Filters: f, Status: true})
	if err != nil {
		return "", false, fmt.Errorf("list service %s: %w", serviceID, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.init()
	for _, svc := range list {
		// The id filter matches prefixes: keep the exact one.
		if svc.ID != serviceID {
			continue
		}
		app := svc.Spec.Labels[paasswarm.LabelAppID]
		if app == "" {
			return "", false, nil
		}
		cur, exists := s.byApp[app]
		switch {
		case !exists, cur.ID != svc.ID && svc.CreatedAt.Before(cur.CreatedAt):
			s.byApp[app] = svc
		case cur.ID == svc.ID && svc.Version.Index >= cur.Version.Index:
			// Concurrent refreshes (an event's, a write's) may finish out
			// of order: keep the newest version seen.
			s.byApp[app] = svc
		}
		s.appOf[svc.ID] = app
		return app, true, nil
	}
	app, known := s.appOf[serviceID]
	if !known {
		return "", false, nil
	}
	delete(s.appOf, serviceID)
	if cur, exists := s.byApp[app]; exists && cur.ID == serviceID {
		delete(s.byApp, app)
	}
	return app, true, nil
}

// Get returns the cached service of an app. The value is shared with the
// cache and with other loops: read it, and write through servicewrite,
// whose merge copies what it edits.
func (s *Services) Get(appID string) (swarm.Service, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	svc, ok := s.byApp[appID]
	return svc, ok
}

// Extra returns the ids of services that claim appID but are not the one
// Get returns: duplicates to remove.
func (s *Services) Extra(appID string) []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	keep := s.byApp[appID].ID
	var extra []string
	for id, app := range s.appOf {
		if app == appID && id != keep {
			extra = append(extra, id)
		}
	}
	return extra
}

// Created records a service the caller just created, before its first
// observation: the create event's refresh replaces it within moments, so no
// extra call is spent reading it back. Its zero version makes any write
// based on it fail out of sequence, which re-reads first.
func (s *Services) Created(appID, serviceID string, spec swarm.ServiceSpec) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.init()
	if _, ok := s.byApp[appID]; !ok {
		s.byApp[appID] = swarm.Service{ID: serviceID, Spec: spec}
	}
	s.appOf[serviceID] = appID
}

// Forget drops a service the caller removed.
func (s *Services) Forget(appID, serviceID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.init()
	delete(s.appOf, serviceID)
	if cur, ok := s.byApp[appID]; ok && cur.ID == serviceID {
		delete(s.byApp, appID)
	}
}

func (s *Services) init() {
	if s.byApp == nil {
		s.byApp = map[string]swarm.Service{}
		s.appOf = map[string]string{}
	}
}

// ServiceFilter selects one service's tasks.
func ServiceFilter(serviceID string) filters.Args {
	return filters.NewArgs(filters.Arg("service", serviceID))
}

// AppOf returns the app a service id belongs to, if the cache knows it.
func (s *Services) AppOf(serviceID string) (string, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	app, ok := s.appOf[serviceID]
	return app, ok
}

// AppIDs returns the apps the cached services belong to.
func (s *Services) AppIDs() []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	ids := make([]string, 0, len(s.byApp))
	for id := range s.byApp {
		ids = append(ids, id)
	}
	return ids
}
