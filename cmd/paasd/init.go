package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/swarm"
	"github.com/docker/docker/client"
	"github.com/spf13/cobra"

	"github.com/skypanel/paas/cmd/paasd/internal/config"
	netloop "github.com/skypanel/paas/controllers/network"
	paasswarm "github.com/skypanel/paas/controllers/swarm"
	"github.com/skypanel/paas/deploy/infra"
	"github.com/skypanel/paas/deploy/stack"
	"github.com/skypanel/paas/store"
	"github.com/skypanel/paas/store/secret"
)

// Settings paasd init records and reads (the admin guide's names).
const (
	settingSwarmInitialized    = "swarm_initialized"
	settingSwarmManagerIP      = "swarm_manager_ip"
	settingJoinTokenWorker     = "swarm_join_token_worker"
	settingJoinTokenManager    = "swarm_join_token_manager"
	settingACMEEmail           = "traefik_acme_email"
	settingRegistryURL         = "registry_url"
	defaultPaasdMetricsPort    = "8080"
	initReportPollInterval     = 500 * time.Millisecond
	defaultInitWait            = 60 * time.Second
	defaultGeneratedOutputPath = "deploy/generated"
)

// initOptions are paasd init's flags.
type initOptions struct {
	advertiseAddr string
	stack         string
	publicNet     string
	infraNet      string
	outputDir     string
	metricsTarget string
	httpPort      uint32
	httpsPort     uint32
	registryPort  uint32
	wait          time.Duration
}

func newInitCmd() *cobra.Command {
	var o initOptions
	cmd := &cobra.Command{
		Use:   "init",
		Short: "Prepare Swarm and deploy the platform's own stack (idempotent)",
		Long: "init is the command to run after migrate and seed-admin. It initialises Swarm when it is\n" +
			"inactive, records the swarm settings and join tokens (sealed), creates the platform networks,\n" +
			"renders the configs of Traefik, Prometheus, Loki, Promtail and Grafana into --output-dir and\n" +
			"deploys the paas-infra stack, with a built-in image registry unless registry_url names an external one. Running it again changes nothing; a changed setting or template\n" +
			"rolls only the services it concerns. Needs DATABASE_URL and ENCRYPTION_KEY.",
		Example: `  paasd init --advertise-addr 10.0.0.5
  paasd init            # again: every line says unchanged`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := config.Load(os.Getenv, config.ForInit)
			if err != nil {
				return err
			}
			if !cmd.Flags().Changed("public-network") {
				o.publicNet = cfg.PublicNetwork
			}
			return runInit(cmd.Context(), cmd.OutOrStdout(), cfg, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.advertiseAddr, "advertise-addr", "", "address other nodes reach this one at; needed only when Swarm is inactive")
	f.StringVar(&o.stack, "stack", stack.DefaultStack, "name of the platform's stack")
	f.StringVar(&o.publicNet, "public-network", stack.DefaultPublicNetwork, "overlay network Traefik reaches apps on (default $PAAS_PUBLIC_NETWORK)")
	f.StringVar(&o.infraNet, "infrastructure-network", stack.DefaultInfraNetwork, "overlay network of the platform's own services")
	f.StringVar(&o.outputDir, "output-dir", defaultGeneratedOutputPath, "directory the rendered configs are written to")
	f.StringVar(&o.metricsTarget, "paasd-metrics-target", "", "host:port Prometheus scrapes paasd's /metrics at (default: the manager's address and PAAS_METRICS_LISTEN's port, or PAAS_LISTEN's)")
	f.Uint32Var(&o.httpPort, "http-port", 80, "host port Traefik serves HTTP on")
	f.Uint32Var(&o.httpsPort, "https-port", 443, "host port Traefik serves HTTPS on")
	f.Uint32Var(&o.registryPort, "registry-port", 5000, "host port of the built-in image registry on this manager (used while the registry_url setting names no external registry)")
	f.DurationVar(&o.wait, "wait", defaultInitWait, "how long to wait for the stack's services to run before reporting")
	return cmd
}

// runInit does what `paasd init` says, printing one line per step.
func runInit(ctx context.Context, out io.Writer, cfg config.Config, o initOptions) error {
	box, err := secret.NewBox(cfg.EncryptionKey)
	if err != nil {
		return err
	}
	docker, err := paasswarm.NewClient()
	if err != nil {
		return err
	}
	defer docker.Close()
	s, err := store.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	defer s.Close()

	sw, err := ensureSwarm(ctx, out, docker, o.advertiseAddr)
	if err != nil {
		return err
	}
	if err := recordSwarm(ctx, out, s, box, sw); err != nil {
		return err
	}
	instance, err := resolveInstance(ctx, s, docker, cfg.InstanceID, false)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "installation: %s\n", instance)

	sc, err := stackConfig(ctx, s, docker, cfg, o, instance, sw.managerIP)
	if err != nil {
		return err
	}
	if sc.ACMEEmail == "" {
		fmt.Fprintf(out, "traefik: the %s setting is empty: certificates are requested without a contact address\n", settingACMEEmail)
	}
	if sc.Registry, err = ensureRegistry(ctx, out, s, docker, o, sw); err != nil {
		return err
	}
	if sc.Registry != nil {
		if sc.Images[infra.RoleRegistry], err = stringSetting(ctx, s, stack.RegistryImage.Setting, stack.RegistryImage.Default); err != nil {
			return err
		}
	}
	files, err := stack.Render(sc)
	if err != nil {
		return err
	}
	if err := writeFiles(out, o.outputDir, files); err != nil {
		return err
	}
	res, err := (&stack.Deployer{Docker: docker, Out: out}).Apply(ctx, sc, files)
	if err != nil {
		return err
	}
	states, err := stack.Report(ctx, docker, sc.Stack, o.wait, initReportPollInterval)
	if err != nil {
		return err
	}
	pending := 0
	for _, st := range states {
		fmt.Fprintf(out, "service %s: %s\n", st.Name, st.Message)
		if !st.Ready {
			pending++
		}
	}
	switch {
	case res.Changed == 0:
		fmt.Fprint(out, "done: nothing changed")
	default:
		fmt.Fprintf(out, "done: %d change(s)", res.Changed)
	}
	if pending > 0 {
		fmt.Fprintf(out, "; %d service(s) not running yet (see above)", pending)
	}
	fmt.Fprintln(out)
	return nil
}

// swarmState is what init learns about the swarm.
type swarmState struct {
	managerIP    string
	nodeID       string
	workerToken  string
	managerToken string
	justCreated  bool
}

// ensureSwarm initialises Swarm when the engine is not part of one, and
// reads the manager address and join tokens.
func ensureSwarm(ctx context.Context, out io.Writer, docker *client.Client, advertise string) (swarmState, error) {
	info, err := docker.Info(ctx)
	if err != nil {
		return swarmState{}, fmt.Errorf("docker info: %w", err)
	}
	var st swarmState
	switch info.Swarm.LocalNodeState {
	case swarm.LocalNodeStateInactive:
		if advertise == "" {
			return st, errors.New("swarm is inactive on this engine: pass --advertise-addr with the address other nodes reach this one at")
		}
		if _, err := docker.SwarmInit(ctx, swarm.InitRequest{ListenAddr: "0.0.0.0:2377", AdvertiseAddr: advertise}); err != nil {
			return st, fmt.Errorf("swarm init: %w", err)
		}
		st.justCreated = true
		if info, err = docker.Info(ctx); err != nil {
			return st, fmt.Errorf("docker info: %w", err)
		}
	case swarm.LocalNodeStateActive:
	default:
		return st, fmt.Errorf("swarm is %s on this engine: fix it (docker info) and run init again", info.Swarm.LocalNodeState)
	}
	if !info.Swarm.ControlAvailable {
		return st, errors.New("this engine is a swarm worker: run paasd init against a manager (DOCKER_HOST)")
	}
	sw, err := docker.SwarmInspect(ctx)
	if err != nil {
		return st, fmt.Errorf("swarm inspect: %w", err)
	}
	st.managerIP, st.nodeID, st.workerToken, st.managerToken = info.Swarm.NodeAddr, info.Swarm.NodeID, sw.JoinTokens.Worker, sw.JoinTokens.Manager
	if st.justCreated {
		fmt.Fprintf(out, "swarm: initialized, manager %s\n", st.managerIP)
	} else {
		fmt.Fprintf(out, "swarm: active, manager %s\n", st.managerIP)
	}
	return st, nil
}

// settingStore is the part of the database the settings steps use.
type settingStore interface {
	GetSetting(ctx context.Context, key string) (store.Setting, error)
	PutSetting(ctx context.Context, arg store.PutSettingParams) error
}

// sealSetting seals a sensitive setting's value, bound to its key.
func sealSetting(box *secret.Box, key, value string) ([]byte, error) {
	return box.Seal([]byte(value), secret.SettingAD(key))
}

// openSetting opens what sealSetting sealed.
func openSetting(box *secret.Box, key string, sealed []byte) (string, error) {
	b, err := box.Open(sealed, secret.SettingAD(key))
	return string(b), err
}

// recordSwarm writes the swarm settings that differ from what is stored.
func recordSwarm(ctx context.Context, out io.Writer, s settingStore, box *secret.Box, sw swarmState) error {
	want := []struct {
		key, value string
		sensitive  bool
	}{
		{settingSwarmInitialized, "true", false},
		{settingSwarmManagerIP, sw.managerIP, false},
		{settingJoinTokenWorker, sw.workerToken, true},
		{settingJoinTokenManager, sw.managerToken, true},
	}
	var written []string
	for _, w := range want {
		cur, err := s.GetSetting(ctx, w.key)
		if err != nil && !store.IsNotFound(err) {
			return fmt.Errorf("read setting %s: %w", w.key, err)
		}
		if err == nil && cur.Sensitive == w.sensitive {
			if !w.sensitive && cur.Value != nil && *cur.Value == w.value {
				continue
			}
			if w.sensitive {
				if v, err := openSetting(box, w.key, cur.ValueEncrypted); err == nil && v == w.value {
					continue
				}
			}
		}
		p := store.PutSettingParams{Key: w.key, Sensitive: w.sensitive}
		if w.sensitive {
			if p.ValueEncrypted, err = sealSetting(box, w.key, w.value); err != nil {
				return fmt.Errorf("seal setting %s: %w", w.key, err)
			}
		} else {
			v := w.value
			p.Value = &v
		}
		if err := s.PutSetting(ctx, p); err != nil {
			return fmt.Errorf("record setting %s: %w", w.key, err)
		}
		written = append(written, w.key)
	}
	if len(written) == 0 {
		fmt.Fprintln(out, "settings: unchanged")
	} else {
		fmt.Fprintf(out, "settings: recorded %s\n", strings.Join(written, ", "))
	}
	return nil
}

// ensureRegistry decides whether the stack has the built-in registry. An
// empty registry_url, or one equal to the address recorded on the built-in
// registry's service, means the built-in one: it runs on this manager,
// published in host mode on --registry-port, and registry_url is recorded
// as <this manager's swarm address>:<port>, the address worker nodes reach
// it at. Any other registry_url is external: no registry service (a
// built-in one from an earlier run is removed with the rest of what the
// stack no longer holds; its data volume is kept).
func ensureRegistry(ctx context.Context, out io.Writer, s settingStore, docker *client.Client, o initOptions, sw swarmState) (*stack.Registry, error) {
	cur, err := stringSetting(ctx, s, settingRegistryURL, "")
	if err != nil {
		return nil, err
	}
	builtin := ""
	list, err := docker.ServiceList(ctx, swarm.ServiceListOptions{Filters: filters.NewArgs(
		filters.Arg("label", infra.LabelStack+"="+o.stack), filters.Arg("label", infra.LabelRole+"="+infra.RoleRegistry))})
	if err != nil {
		return nil, fmt.Errorf("list services: %w", err)
	}
	for _, svc := range list {
		builtin = svc.Spec.Labels[infra.LabelRegistryURL]
	}
	if cur != "" && cur != builtin {
		fmt.Fprintf(out, "registry: %s is external (%s): no built-in registry\n", cur, settingRegistryURL)
		if builtin != "" {
			fmt.Fprintf(out, "registry: the built-in registry is removed; its volume %s is kept (docker volume rm it to free the space)\n", stack.VolumeName(o.stack, infra.RoleRegistry))
		}
		return nil, nil
	}
	reg := &stack.Registry{Port: o.registryPort, NodeID: sw.nodeID, URL: net.JoinHostPort(sw.managerIP, strconv.FormatUint(uint64(o.registryPort), 10))}
	if cur == reg.URL {
		fmt.Fprintf(out, "registry: built in at %s\n", reg.URL)
		return reg, nil
	}
	v := reg.URL
	if err := s.PutSetting(ctx, store.PutSettingParams{Key: settingRegistryURL, Value: &v}); err != nil {
		return nil, fmt.Errorf("record setting %s: %w", settingRegistryURL, err)
	}
	fmt.Fprintf(out, "registry: built in at %s; recorded %s (every node's engine must trust it: insecure-registries, or TLS in front)\n", reg.URL, settingRegistryURL)
	return reg, nil
}

// stringSetting reads a text setting, def when unset or blank.
func stringSetting(ctx context.Context, s store.SettingGetter, key, def string) (string, error) {
	st, err := s.GetSetting(ctx, key)
	if store.IsNotFound(err) {
		return def, nil
	}
	if err != nil {
		return "", fmt.Errorf("read setting %s: %w", key, err)
	}
	if st.Sensitive || st.Value == nil || strings.TrimSpace(*st.Value) == "" {
		return def, nil
	}
	return strings.TrimSpace(*st.Value), nil
}

// stackConfig gathers what the stack is rendered from: flags, settings,
// the environment and the organization networks that exist.
func stackConfig(ctx context.Context, s store.SettingGetter, docker stack.Docker, cfg config.Config, o initOptions, instance, managerIP string) (stack.Config, error) {
	sc := stack.Config{
		Stack: o.stack, InstanceID: instance, PublicNetwork: o.publicNet, InfraNetwork: o.infraNet,
		LokiRetentionDays: cfg.LokiRetentionDays, PaasdMetricsTarget: o.metricsTarget,
		HTTPPort: o.httpPort, HTTPSPort: o.httpsPort, Images: map[string]string{},
	}
	if sc.PaasdMetricsTarget == "" {
		port := defaultPaasdMetricsPort
		listen := cfg.Listen
		if cfg.MetricsListen != "" {
			listen = cfg.MetricsListen // /metrics is served only there
		}
		if _, p, err := net.SplitHostPort(listen); err == nil && p != "" {
			port = p
		}
		sc.PaasdMetricsTarget = net.JoinHostPort(managerIP, port)
	}
	var err error
	if sc.ACMEEmail, err = stringSetting(ctx, s, settingACMEEmail, ""); err != nil {
		return sc, err
	}
	for _, im := range stack.Images {
		if sc.Images[im.Role], err = stringSetting(ctx, s, im.Setting, im.Default); err != nil {
			return sc, err
		}
	}
	if sc.OrgNetworks, err = orgNetworks(ctx, docker, instance); err != nil {
		return sc, err
	}
	return sc, nil
}

// orgNetworks lists the organization networks of this installation that
// the network loop made, by name, sorted.
func orgNetworks(ctx context.Context, docker stack.Docker, instance string) ([]string, error) {
	list, err := docker.NetworkList(ctx, network.ListOptions{Filters: paasswarm.InstanceFilter(instance)})
	if err != nil {
		return nil, fmt.Errorf("list organization networks: %w", err)
	}
	var names []string
	for _, n := range list {
		if _, ok := netloop.OrgOfNetwork(instance, n.Name); ok {
			names = append(names, n.Name)
		}
	}
	sort.Strings(names)
	return names, nil
}

// writeFiles writes the rendered files into dir, leaving unchanged ones alone.
func writeFiles(out io.Writer, dir string, files []stack.File) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	for _, f := range files {
		p := filepath.Join(dir, f.Name)
		if cur, err := os.ReadFile(p); err == nil && bytes.Equal(cur, f.Data) {
			fmt.Fprintf(out, "file %s: unchanged\n", p)
			continue
		}
		if err := os.WriteFile(p, f.Data, 0o644); err != nil {
			return fmt.Errorf("write %s: %w", p, err)
		}
		fmt.Fprintf(out, "file %s: written (%s bytes)\n", p, strconv.Itoa(len(f.Data)))
	}
	return nil
}
