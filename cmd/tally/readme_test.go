package main

import (
	"bytes"
	"context"
	"flag"
	"io"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// configRow is what the README's configuration table and serve's flag set
// must agree on.
type configRow struct{ Flag, Env, Default string }

// flagRows are the rows DefaultConfig's settings make, in their order, with
// each default as the flag set records it; an empty one is written "none".
func flagRows(t *testing.T) []configRow {
	t.Helper()
	cfg := DefaultConfig()
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	ss := cfg.settings()
	if _, err := parseSettings(fs, nil, envOf(nil), ss); err != nil {
		t.Fatal(err)
	}
	var rows []configRow
	for _, s := range ss {
		def := fs.Lookup(s.flag).DefValue
		if def == "" {
			def = "none"
		}
		rows = append(rows, configRow{"--" + s.flag, s.env, def})
	}
	return rows
}

// TestConfigurationTable checks the README's table of serve's settings
// against DefaultConfig and the flag set, row by row: every flag, its
// variable and its default, in the same order, so that the two cannot
// drift apart.
func TestConfigurationTable(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(readme), "\n## Configuration\n")
	if !ok {
		t.Fatal("README.md has no ## Configuration section")
	}
	section, _, _ = strings.Cut(section, "\n#")
	cell := regexp.MustCompile("^`([^`]*)`$")
	var got []configRow
	for _, line := range strings.Split(section, "\n") {
		if !strings.HasPrefix(line, "| `--") {
			continue
		}
		cols := strings.Split(line, " | ")
		if len(cols) < 4 {
			t.Errorf("README row %q has fewer than four columns", line)
			continue
		}
		var r configRow
		for i, p := range []*string{&r.Flag, &r.Env, &r.Default} {
			c := strings.TrimPrefix(cols[i], "| ")
			if m := cell.FindStringSubmatch(c); m != nil {
				c = m[1]
			}
			*p = c
		}
		got = append(got, r)
	}
	if diff := cmp.Diff(flagRows(t), got); diff != "" {
		t.Errorf("README.md's configuration table differs from serve's flags (-flags +README):\n%s", diff)
	}
}

// TestServeHelp checks that -h shows every setting with its variable and
// its default, and no value taken from the environment.
func TestServeHelp(t *testing.T) {
	var stderr bytes.Buffer
	env := envOf(map[string]string{"TALLY_API_KEYS": "k3y-secret", "TALLY_STORE": "mongodb://u:pw-secret@db/tally"})
	if err := run(context.Background(), []string{"serve", "-h"}, env, io.Discard, &stderr); err != nil {
		t.Fatalf("serve -h: %v", err)
	}
	help := stderr.String()
	for _, r := range flagRows(t) {
		if !strings.Contains(help, "  -"+strings.TrimPrefix(r.Flag, "--")+" ") {
			t.Errorf("serve -h lacks %s", r.Flag)
		}
		if !strings.Contains(help, "(env "+r.Env+")") {
			t.Errorf("serve -h lacks (env %s)", r.Env)
		}
		switch r.Default {
		case "none", "0", "0s", "false", "off":
		default:
			if !strings.Contains(help, "(default "+r.Default+")") {
				t.Errorf("serve -h lacks %s's (default %s)", r.Flag, r.Default)
			}
		}
	}
	for _, secret := range []string{"k3y-secret", "pw-secret"} {
		if strings.Contains(help, secret) {
			t.Errorf("serve -h shows %q from the environment", secret)
		}
	}
}
