// Command paasctl is the SkyPanel PaaS command-line client. Until the CLI
// lands it only reports its version.
package main

import (
	"fmt"
	"os"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	if len(os.Args) == 2 && (os.Args[1] == "version" || os.Args[1] == "--version") {
		fmt.Println("paasctl", version)
		return
	}
	fmt.Fprintln(os.Stderr, "paasctl", version, "- the CLI is not built yet; only `paasctl version` works")
	os.Exit(2)
}
