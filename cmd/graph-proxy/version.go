package main

import "runtime/debug"

// buildVersion is the release version, set at link time by the Makefile's
// build and the Dockerfile (-ldflags "-X main.buildVersion=v1.4.0"). It is
// empty in a plain go build.
var buildVersion string

// version names this build in `graph-proxy version`, the admin /status and
// the audit log's genesis, policy and close records: the stamped
// buildVersion, else the module version the Go toolchain recorded (a
// go install of a tagged release, or a build inside a git checkout), else
// "dev".
func version() string {
	if buildVersion != "" {
		return buildVersion
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}
