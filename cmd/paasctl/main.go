// Command paasctl is the SkyPanel PaaS command-line client: declare apps in
// YAML, apply them, and watch the platform converge on them. See
// docs/cli.md, or `paasctl --help`.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/skypanel/paas/cmd/paasctl/internal/cli"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Main(ctx, os.Args[1:], cli.StdIO(), version)
	stop()
	os.Exit(code)
}
