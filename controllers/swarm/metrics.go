package swarm

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/docker/docker/client"
	"github.com/prometheus/client_golang/prometheus"
)

// NewInstrumentedClient is NewClient with every Engine API request counted
// in paas_docker_requests_total{op}, op being the method and the path with
// ids replaced ("POST /services/{id}/update"): the figure that shows a
// resync costs one list call and no updates.
func NewInstrumentedClient(reg prometheus.Registerer) (*client.Client, error) {
	base, err := NewClient()
	if err != nil {
		return nil, err
	}
	requests := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "paas_docker_requests_total", Help: "Docker Engine API requests made, by operation.",
	}, []string{"op"})
	if reg != nil {
		reg.MustRegister(requests)
	}
	hc := base.HTTPClient()
	hc.Transport = &countingTransport{base: hc.Transport, requests: requests}
	c, err := client.NewClientWithOpts(client.FromEnv, client.WithHTTPClient(hc), client.WithAPIVersionNegotiation())
	if err != nil {
		return nil, fmt.Errorf("docker client: %w", err)
	}
	base.Close()
	return c, nil
}

type countingTransport struct {
	base     http.RoundTripper
	requests *prometheus.CounterVec
}

func (t *countingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	t.requests.WithLabelValues(req.Method + " " + Operation(req.URL.Path)).Inc()
	return t.base.RoundTrip(req)
}

// collections whose next path segment is an object id or name.
var collections = map[string]bool{
	"services": true, "tasks": true, "networks": true, "nodes": true, "containers": true,
	"configs": true, "secrets": true, "volumes": true, "plugins": true,
}

// Operation reduces an Engine API path to a low-cardinality operation name:
// the version prefix dropped, ids and image references replaced.
func Operation(path string) string {
	segs := strings.Split(strings.Trim(path, "/"), "/")
	if len(segs) > 0 && strings.HasPrefix(segs[0], "v1.") {
		segs = segs[1:]
	}
	if len(segs) >= 3 && segs[0] == "images" {
		// Image references may hold slashes: keep only the verb at the end.
		return "/images/{ref}/" + segs[len(segs)-1]
	}
	for i := 1; i < len(segs); i++ {
		if collections[segs[i-1]] && segs[i] != "create" && segs[i] != "prune" {
			segs[i] = "{id}"
		}
	}
	return "/" + strings.Join(segs, "/")
}
