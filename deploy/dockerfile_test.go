package deploy

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

func read(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestDockerfile checks the image is built as the release build is, and
// runs as the deployment expects.
func TestDockerfile(t *testing.T) {
	df := read(t, "../Dockerfile")
	mk := read(t, "../Makefile")
	env := regexp.MustCompile(`(?m)^BUILD_ENV\s*:=\s*(.+)$`).FindStringSubmatch(mk)
	flags := regexp.MustCompile(`(?m)^BUILD_FLAGS\s*:=\s*(.+)$`).FindStringSubmatch(mk)
	if env == nil || flags == nil {
		t.Fatal("the Makefile has no BUILD_ENV or BUILD_FLAGS")
	}
	// The Makefile stamps $(VERSION), the Dockerfile its build argument
	// ${VERSION}: the same flags otherwise.
	build := strings.TrimSpace(env[1]) + " go build " + strings.ReplaceAll(strings.TrimSpace(flags[1]), "$(VERSION)", "${VERSION}") + " "
	if !strings.Contains(df, build) {
		t.Errorf("the Dockerfile does not build with %q", build)
	}
	// The version is stamped into the variable version() reports, from the
	// build argument declared in the build stage before the build.
	const stamp = "-X main.buildVersion=${VERSION}"
	if !strings.Contains(build, stamp) {
		t.Errorf("the build flags %q do not stamp %s", build, stamp)
	}
	if !regexp.MustCompile(`(?m)^var buildVersion string$`).MatchString(read(t, "../cmd/graph-proxy/version.go")) {
		t.Error("cmd/graph-proxy/version.go declares no var buildVersion string for -X main.buildVersion")
	}
	stage := df[max(strings.Index(df, " AS build"), 0):]
	if end := strings.Index(stage, "\nFROM "); end >= 0 {
		stage = stage[:end]
	}
	arg, run := regexp.MustCompile(`(?m)^ARG VERSION(=|$)`).FindStringIndex(stage), strings.Index(stage, build)
	if arg == nil || run < 0 || arg[0] > run {
		t.Error("the build stage does not declare ARG VERSION before the go build that uses it")
	}
	for _, want := range []string{"FROM golang:", " AS build", "FROM gcr.io/distroless/static", "USER 65532:65532", `ENTRYPOINT ["/graph-proxy"]`, `CMD ["serve"]`} {
		if !strings.Contains(df, want) {
			t.Errorf("the Dockerfile lacks %q", want)
		}
	}
	if regexp.MustCompile(`(?m)^\s*HEALTHCHECK`).MatchString(df) {
		t.Error("the image has a HEALTHCHECK; Container Apps probes /healthz and /readyz")
	}
	if regexp.MustCompile(`(?m)^\s*USER\s+(root|0)\b`).MatchString(df) {
		t.Error("the image runs as root")
	}
}
