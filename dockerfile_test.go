package tally_test

import (
	"encoding/json"
	"os"
	"path"
	"strings"
	"testing"
)

// instruction is one Dockerfile instruction, continuation lines joined.
type instruction struct {
	cmd  string // upper case
	args string
	line int
}

// parseDockerfile reads the instructions of a Dockerfile, grouped by build
// stage (a FROM starts one).
func parseDockerfile(t *testing.T, name string) [][]instruction {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	var stages [][]instruction
	var cur strings.Builder
	start := 0
	for i, line := range strings.Split(string(b), "\n") {
		trimmed := strings.TrimSpace(line)
		if cur.Len() == 0 && (trimmed == "" || strings.HasPrefix(trimmed, "#")) {
			continue
		}
		if cur.Len() == 0 {
			start = i + 1
		}
		if strings.HasSuffix(trimmed, "\\") {
			cur.WriteString(strings.TrimSuffix(trimmed, "\\") + " ")
			continue
		}
		cur.WriteString(trimmed)
		cmd, args, _ := strings.Cut(cur.String(), " ")
		cur.Reset()
		in := instruction{cmd: strings.ToUpper(cmd), args: strings.TrimSpace(args), line: start}
		if in.cmd == "FROM" {
			stages = append(stages, nil)
		}
		if len(stages) == 0 {
			t.Fatalf("%s:%d: %s before FROM", name, in.line, in.cmd)
		}
		stages[len(stages)-1] = append(stages[len(stages)-1], in)
	}
	return stages
}

// words splits an instruction's arguments, in exec (JSON) or shell form.
func words(t *testing.T, args string) []string {
	t.Helper()
	if strings.HasPrefix(args, "[") {
		var w []string
		if err := json.Unmarshal([]byte(args), &w); err != nil {
			t.Fatalf("%q: %v", args, err)
		}
		return w
	}
	return strings.Fields(args)
}

// resolve is p as seen from the directory dir, as WORKDIR and the
// container's relative paths are.
func resolve(dir, p string) string {
	if path.IsAbs(p) {
		return path.Clean(p)
	}
	return path.Join(dir, p)
}

// TestDockerfileDataVolume checks the image's file layout as far as a
// machine without a Docker engine can: the final image runs as distroless's
// nonroot user (uid 65532), and the volume that holds the default SQLite
// store is created in the image, owned by that user, so that Docker
// initialises the volume with that owner rather than root. The default store
// path must lie inside the volume.
func TestDockerfileDataVolume(t *testing.T) {
	stages := parseDockerfile(t, "Dockerfile")
	final := stages[len(stages)-1]
	from := words(t, final[0].args)
	if !strings.HasPrefix(from[0], "gcr.io/distroless/") || !strings.HasSuffix(from[0], ":nonroot") {
		t.Fatalf("final stage FROM %s: this test knows distroless's nonroot image only", from[0])
	}
	nonroot := func(owner string) bool { return owner == "nonroot:nonroot" || owner == "65532:65532" }

	workdir := "/"
	var volumes []string
	store := "sqlite:data/tally.db" // serve's default
	user := ""
	owned := map[string]string{} // directories copied in with the nonroot owner, to their source
	for _, in := range final {
		switch in.cmd {
		case "WORKDIR":
			workdir = resolve(workdir, in.args)
		case "USER":
			user = in.args
		case "VOLUME":
			for _, v := range words(t, in.args) {
				volumes = append(volumes, resolve(workdir, v))
			}
		case "ENV":
			if k, v, ok := strings.Cut(in.args, "="); ok && k == "TALLY_STORE" {
				store = strings.Trim(v, `"'`)
			}
		case "COPY":
			w := words(t, in.args)
			var chown string
			var from bool
			var rest []string
			for _, a := range w {
				switch {
				case strings.HasPrefix(a, "--chown="):
					chown = strings.TrimPrefix(a, "--chown=")
				case strings.HasPrefix(a, "--from="):
					from = true
				case strings.HasPrefix(a, "--"):
				default:
					rest = append(rest, a)
				}
			}
			if from && nonroot(chown) && len(rest) == 2 {
				owned[resolve(workdir, rest[1])] = rest[0]
			}
		}
	}
	if !nonroot(user) {
		t.Errorf("USER %q, want nonroot:nonroot (65532)", user)
	}
	if len(volumes) == 0 {
		t.Fatal("no VOLUME: the default SQLite store would live in the container's layer")
	}
	for _, v := range volumes {
		src, ok := owned[v]
		if !ok {
			t.Errorf("VOLUME %s is not created in the image by a COPY --from=… --chown=nonroot:nonroot: "+
				"Docker would create it owned by root, and the nonroot user could not create the database", v)
			continue
		}
		// The build stage must make what the final stage copies.
		made := false
		for _, in := range stages[0] {
			made = made || in.cmd == "RUN" && strings.Contains(in.args, "mkdir") && strings.Contains(in.args, path.Clean(src))
		}
		if !made {
			t.Errorf("VOLUME %s is copied from %s, which the build stage does not mkdir", v, src)
		}
	}

	p, ok := strings.CutPrefix(store, "sqlite:")
	if !ok {
		t.Fatalf("default store %q is not sqlite:PATH", store)
	}
	p = resolve(workdir, p)
	inside := false
	for _, v := range volumes {
		inside = inside || strings.HasPrefix(p, v+"/")
	}
	if !inside {
		t.Errorf("default store %s lies outside the volumes %v", p, volumes)
	}
}
