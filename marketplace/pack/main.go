// Command pack builds the Azure Marketplace application package of the
// solution template plan: app.zip with mainTemplate.json and
// createUiDefinition.json at its root, as Partner Center requires.
//
// Usage: go run ./marketplace/pack [-o app.zip] [-dir marketplace]
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/graph-proxy/graph-proxy/marketplace"
)

func main() {
	out := flag.String("o", "app.zip", "the package to write")
	dir := flag.String("dir", "marketplace", "the folder holding the package's files")
	flag.Parse()
	if err := marketplace.Pack(*dir, *out); err != nil {
		fmt.Fprintln(os.Stderr, "pack:", err)
		os.Exit(1)
	}
	fmt.Println("wrote", *out)
}
