package api_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tallyhq/tally/api"
)

// The generator and the runtime its code imports, pinned: the document must
// work with the versions people use, and a new release must not change the
// test's verdict unseen.
const (
	oapiCodegen = "github.com/oapi-codegen/oapi-codegen/v2/cmd/oapi-codegen@v2.8.2"
	clientGoMod = `module tallyclientgen

go 1.26

require (
	github.com/google/uuid v1.6.0
	github.com/oapi-codegen/runtime v1.9.0
	go.yaml.in/yaml/v3 v3.0.5
)

require github.com/apapsch/go-jsonmerge/v2 v2.0.0 // indirect
`
	clientGenConfig = `package: main
generate:
  client: true
  models: true
output: client.gen.go
`
)

// TestGeneratedClient generates a Go client from the embedded document with
// oapi-codegen, unpatched, in a module of its own (the main module stays
// free of the generator and its runtime), builds it with the scenario of
// testdata/clientgen and runs that against a real server: create, get, a
// batch, reports with list filters (null among them), CSV, delete.
func TestGeneratedClient(t *testing.T) {
	goTool := needModuleProxy(t)
	dir := t.TempDir()
	scenario, err := os.ReadFile(filepath.Join("testdata", "clientgen", "main.go"))
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{
		"openapi.yaml": api.OpenAPIYAML,
		"config.yaml":  []byte(clientGenConfig),
		"go.mod":       []byte(clientGoMod),
		"main.go":      scenario,
	} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	goRun(t, dir, goTool, "run", oapiCodegen, "-config", "config.yaml", "openapi.yaml")
	goRun(t, dir, goTool, "mod", "tidy")
	goRun(t, dir, goTool, "build", "-o", "scenario", ".")

	const key = "clientgen-key"
	// Keys on: writes carry one, sent by the client's request editor.
	ts := newServer(t, func(c *apiConfig) { c.APIKeys = []string{key} })
	cmd := exec.Command(filepath.Join(dir, "scenario"), ts.URL, key)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("scenario: %v\n%s%s", err, out, stderr.Bytes())
	}
	// The values keep every digit both ways (12345678.91 would be 12345679
	// as a float32, 123456789012345.67 is beyond a float64); the lists
	// arrive comma-delimited and null selects the events without a device
	// type or category.
	want := `create 201 id=00000000-0000-4000-8000-00000000000a value=12345678.91
get 200 device_type=desktop category=null timestamp=2026-11-02T10:00:00Z value=12345678.91
bulk 200 accepted=2 duplicates=1 rejected=[3 timestamp]
report 200 total_count=2 totals=2/123456801358024.58/6.172840067901229e+13
  category=null device_type=null valid=null count=1 sum=123456789012345.67 mean=1.2345678901234567e+14
  category=null device_type=desktop valid=null count=1 sum=12345678.91 mean=1.234567891e+07
report categories=null 200 total_count=2 totals=2/123456801358024.58/6.172840067901229e+13
  category=null device_type=null valid=false count=1 sum=123456789012345.67 mean=1.2345678901234567e+14
  category=null device_type=null valid=true count=1 sum=12345678.91 mean=1.234567891e+07
csv 200 text/csv; charset=utf-8
client,count,sum,mean
1,2,12345678.910001,6172839.4550005
2,1,123456789012345.67,123456789012345.67
delete 204
get 404 event 00000000-0000-4000-8000-00000000000a not found
`
	if diff := cmp.Diff(want, string(out)); diff != "" {
		t.Errorf("scenario through the generated client (-want +got):\n%s", diff)
	}
}

// needModuleProxy returns the go command, or skips the test where the
// module proxy is known to be out of reach. Under CI=true it never skips:
// it runs, and fails if the proxy cannot be reached.
func needModuleProxy(t *testing.T) string {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("no go command: %v", err)
	}
	if os.Getenv("CI") == "true" {
		return goTool
	}
	skip := func(why string) {
		t.Helper()
		t.Skipf("%s: skipping the generated client (oapi-codegen and its runtime come from the module proxy; CI=true runs it)", why)
	}
	if testing.Short() {
		skip("-short")
	}
	if flags := os.Getenv("GOFLAGS"); strings.Contains(flags, "-mod=") {
		skip("GOFLAGS=" + flags + " (vendored or offline build)")
	}
	proxy, err := exec.Command(goTool, "env", "GOPROXY").Output()
	if err != nil {
		t.Fatalf("go env GOPROXY: %v", err)
	}
	if p := strings.TrimSpace(string(proxy)); p == "off" {
		skip("GOPROXY=" + p)
	}
	return goTool
}

// goRun runs the go command in the client's module, which is not in any
// workspace of the caller's.
func goRun(t *testing.T, dir, goTool string, args ...string) {
	t.Helper()
	cmd := exec.Command(goTool, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=mod")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}
