package servicespec

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/swarm"
)

// Label keys the platform writes; every key starts with LabelPrefix, the prefix the app loop owns.
const (
	// LabelPrefix marks the labels the app loop owns; all other labels belong to someone else and are kept.
	LabelPrefix = "paas."
	// LabelManaged is "true" on every service the platform creates, so operators can tell ours apart.
	LabelManaged = "paas.managed"
	// LabelInstance scopes garbage collection to one installation, so two installations on one Swarm never delete each other's work.
	LabelInstance = "paas.instance"
	// LabelAppID carries the app's uuid, the key a resync maps a service back to.
	LabelAppID = "paas.app.id"
	// LabelAppName carries the app's name for humans reading `docker service ls`.
	LabelAppName = "paas.app.name"
	// LabelOrgID carries the owning organization, for log and metric attribution.
	LabelOrgID = "paas.org.id"
	// LabelRelease carries the deployment version; it is also a container label so tasks of an old release can be told apart.
	LabelRelease = "paas.release"
	// LabelImage carries the reference the user asked for, since the spec only holds the pinned digest.
	LabelImage = "paas.image"
	// LabelSpecHash carries TemplateHash of the owned fields, which tells a new release from a hand edit.
	LabelSpecHash = "paas.spec-hash"
)

// Desired is everything that decides an app's Swarm service, already resolved: env decrypted, image pinned.
type Desired struct {
	InstanceID  string // installation id, label paas.instance
	AppID       string // app uuid, label paas.app.id
	AppName     string // label paas.app.name
	OrgID       string // label paas.org.id
	ServiceName string // unique across organizations, chosen by the caller
	Image       string // pinned reference (repo@sha256:… or an image id sha256:…)
	ImageRef    string // the human reference the user asked for, label paas.image

	// Command replaces the image's CMD and keeps its ENTRYPOINT, which is what
	// the old PaaS's "command" did; it is rendered as ContainerSpec.Args
	// because ContainerSpec.Command would replace the ENTRYPOINT instead and
	// break images that use an entrypoint wrapper. Empty keeps the image's CMD.
	Command []string

	Env map[string]string // decrypted; rendered sorted by key

	// Port is the container port the app listens on; it is also exported as
	// env PORT (overriding a user-set PORT) because Traefik routes to exactly
	// this port and an app listening elsewhere would be unreachable. 0 sets no PORT.
	Port int

	CPUMillis int64 // CPU limit in millicores (1000 = 1 CPU); the reservation is a quarter of it; 0 means unlimited
	MemoryMB  int64 // memory limit in MiB; the reservation is a quarter of it; 0 means unlimited

	// HealthCheck nil leaves the image's own HEALTHCHECK in force (we do not
	// render Test NONE), because an image author's check is often the only
	// readiness signal Swarm has during a start-first rollout. A HealthCheck
	// with an empty Command disables the image's check explicitly.
	HealthCheck *HealthCheck

	Networks []string // network IDs (not names: the engine stores IDs) attached in this order

	Release int // deployment version, label paas.release

	// UpdateMonitor is how long Swarm watches a new task for failure before
	// counting the update step good; 0 leaves Swarm's default of 5s.
	UpdateMonitor time.Duration

	StopGracePeriod time.Duration // time between SIGTERM and SIGKILL; 0 leaves Docker's default of 10s

	// Sandbox confines every task of the app.
	Sandbox Sandbox

	// Deleting is true once the app's deleted_at is set: the service must go.
	Deleting bool
}

// Sandbox confines a tenant's tasks: a fork bomb, a raw socket or an
// endless log in one app must not reach the node or the other tenants.
type Sandbox struct {
	// PidsLimit caps the processes of one task; 0 leaves it unlimited.
	PidsLimit int64
	// CapDrop lists the Linux capabilities taken away (CAP_ form).
	CapDrop []string
	// LogMaxSize and LogMaxFiles bound the json-file log kept per task
	// ("10m" and 3); an empty LogMaxSize leaves the engine's default driver.
	LogMaxSize  string
	LogMaxFiles int
}

// DefaultSandbox is what apps run with unless the operator says otherwise:
// enough processes for any web app, none of the capabilities an app has no
// business with (raw sockets for spoofing, device nodes, chroot, file
// capabilities, audit), and 30 MB of logs per task.
var DefaultSandbox = Sandbox{
	PidsLimit:   512,
	CapDrop:     []string{"CAP_AUDIT_WRITE", "CAP_MKNOD", "CAP_NET_RAW", "CAP_SETFCAP", "CAP_SYS_CHROOT"},
	LogMaxSize:  "10m",
	LogMaxFiles: 3,
}

// HealthCheck is an exec-form container healthcheck.
type HealthCheck struct {
	Command     []string // exec form, e.g. ["/testapp","-healthcheck","http://127.0.0.1:8080/health"]; rendered as CMD
	Interval    time.Duration
	Timeout     time.Duration
	StartPeriod time.Duration
	Retries     int
}

// String prints a Desired with env values redacted, so a stray %v in a log line never leaks secrets.
func (d Desired) String() string {
	keys := slices.Sorted(maps.Keys(d.Env))
	return fmt.Sprintf("Desired{app=%s service=%s image=%s release=%d env-keys=%v}", d.AppID, d.ServiceName, d.Image, d.Release, keys)
}

// GoString redacts env values for %#v as String does for %v.
func (d Desired) GoString() string { return d.String() }

// Restart policy values Render writes; see Render for why.
const (
	restartDelay = 5 * time.Second
)

// Render builds the Swarm service spec for d.
//
// Mode.Replicated.Replicas is a pointer to 0: the scale loop owns the replica
// count, so the caller overwrites it on create and PlanApp copies the observed
// value on update. Never send Render's placeholder to a running service.
//
// The restart policy is condition "any" with a 5s delay and unlimited attempts:
// "on-failure" would leave a web app that exits 0 down for good, and a retry
// cap would leave a service permanently short of replicas after a transient
// outage (a database down for ten minutes). Failed rollouts are caught by the
// update monitor (FailureAction rollback) and crash loops surface as Degraded.
//
// Updates are start-first with rollback on failure so a broken release never
// takes the old one down; rollbacks pause on failure rather than flapping.
// No ports are published: Traefik reaches the service over the overlay network.
func Render(d Desired) swarm.ServiceSpec {
	release := strconv.Itoa(d.Release)
	zero := uint64(0)
	delay := restartDelay

	cs := &swarm.ContainerSpec{
		Image:          d.Image,
		Args:           cloneStrings(d.Command),
		Env:            renderEnv(d.Env, d.Port),
		Labels:         containerLabels(d, release),
		CapabilityDrop: cloneStrings(d.Sandbox.CapDrop),
	}
	if d.StopGracePeriod > 0 {
		g := d.StopGracePeriod
		cs.StopGracePeriod = &g
	}
	if hc := d.HealthCheck; hc != nil {
		test := []string{"NONE"}
		if len(hc.Command) > 0 {
			test = append([]string{"CMD"}, hc.Command...)
		}
		cs.Healthcheck = &container.HealthConfig{
			Test:        test,
			Interval:    hc.Interval,
			Timeout:     hc.Timeout,
			StartPeriod: hc.StartPeriod,
			Retries:     hc.Retries,
		}
	}

	var nets []swarm.NetworkAttachmentConfig
	for _, id := range d.Networks {
		nets = append(nets, swarm.NetworkAttachmentConfig{Target: id, Aliases: []string{d.ServiceName}})
	}

	spec := swarm.ServiceSpec{
		Annotations: swarm.Annotations{
			Name:   d.ServiceName,
			Labels: serviceLabels(d, release),
		},
		TaskTemplate: swarm.TaskSpec{
			ContainerSpec: cs,
			Resources:     renderResources(d.CPUMillis, d.MemoryMB, d.Sandbox.PidsLimit),
			LogDriver:     renderLogDriver(d.Sandbox),
			RestartPolicy: &swarm.RestartPolicy{
				Condition:   swarm.RestartPolicyConditionAny,
				Delay:       &delay,
				MaxAttempts: &zero,
			},
			Placement: &swarm.Placement{
				Preferences: []swarm.PlacementPreference{{Spread: &swarm.SpreadOver{SpreadDescriptor: "node.id"}}},
			},
			Networks: nets,
		},
		Mode: swarm.ServiceMode{Replicated: &swarm.ReplicatedService{Replicas: &zero}},
		UpdateConfig: &swarm.UpdateConfig{
			Parallelism:     1,
			FailureAction:   swarm.UpdateFailureActionRollback,
			Monitor:         d.UpdateMonitor,
			MaxFailureRatio: 0,
			Order:           swarm.UpdateOrderStartFirst,
		},
		RollbackConfig: &swarm.UpdateConfig{
			Parallelism:     1,
			FailureAction:   swarm.UpdateFailureActionPause,
			Monitor:         d.UpdateMonitor,
			MaxFailureRatio: 0,
			Order:           swarm.UpdateOrderStartFirst,
		},
		EndpointSpec: &swarm.EndpointSpec{Mode: swarm.ResolutionModeVIP},
	}
	spec.Labels[LabelSpecHash] = TemplateHash(Project(spec))
	return spec
}

// renderEnv returns "K=V" sorted by key, with PORT forced to port when port > 0.
func renderEnv(env map[string]string, port int) []string {
	m := maps.Clone(env)
	if port > 0 {
		if m == nil {
			m = map[string]string{}
		}
		m["PORT"] = strconv.Itoa(port)
	}
	out := make([]string, 0, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		out = append(out, k+"="+m[k])
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// renderResources converts plan sizes; reservations are a quarter of limits so
// the scheduler packs nodes sensibly without refusing to place bursty apps.
func renderResources(cpuMillis, memoryMB, pids int64) *swarm.ResourceRequirements {
	if cpuMillis <= 0 && memoryMB <= 0 && pids <= 0 {
		return nil
	}
	var nano, mem int64
	if cpuMillis > 0 {
		nano = cpuMillis * 1_000_000
	}
	if memoryMB > 0 {
		mem = memoryMB * 1024 * 1024
	}
	return &swarm.ResourceRequirements{
		Limits:       &swarm.Limit{NanoCPUs: nano, MemoryBytes: mem, Pids: max(pids, 0)},
		Reservations: &swarm.Resources{NanoCPUs: nano / 4, MemoryBytes: mem / 4},
	}
}

// renderLogDriver bounds the json-file log of each task.
func renderLogDriver(sb Sandbox) *swarm.Driver {
	if sb.LogMaxSize == "" {
		return nil
	}
	opts := map[string]string{"max-size": sb.LogMaxSize}
	if sb.LogMaxFiles > 0 {
		opts["max-file"] = strconv.Itoa(sb.LogMaxFiles)
	}
	return &swarm.Driver{Name: "json-file", Options: opts}
}

// serviceLabels are the paas.* service labels, without the spec hash (Render adds it last).
func serviceLabels(d Desired, release string) map[string]string {
	return map[string]string{
		LabelManaged:  "true",
		LabelInstance: d.InstanceID,
		LabelAppID:    d.AppID,
		LabelAppName:  d.AppName,
		LabelOrgID:    d.OrgID,
		LabelRelease:  release,
		LabelImage:    d.ImageRef,
	}
}

// containerLabels identify a task's container: Promtail and cAdvisor attribute
// logs and metrics by them, and EvaluateRollout tells releases apart by paas.release.
func containerLabels(d Desired, release string) map[string]string {
	return map[string]string{
		LabelManaged:  "true",
		LabelInstance: d.InstanceID,
		LabelAppID:    d.AppID,
		LabelAppName:  d.AppName,
		LabelOrgID:    d.OrgID,
		LabelRelease:  release,
	}
}

func cloneStrings(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	return slices.Clone(s)
}
