package web_test

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// findBrowser returns the Chromium to drive. Outside CI a machine without
// one skips the browser tests, saying so; under CI=true that is a failure,
// because CI installs Chromium and a silent skip would hide a broken setup.
func findBrowser(t *testing.T) string {
	t.Helper()
	candidates := []string{os.Getenv("TALLY_CHROMIUM"), "chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "/usr/bin/chromium"}
	for _, c := range candidates {
		if c == "" {
			continue
		}
		if p, err := exec.LookPath(c); err == nil {
			return p
		}
	}
	const msg = "no Chromium found (looked for $TALLY_CHROMIUM, chromium, chromium-browser, google-chrome); " +
		"install it with `apt-get install -y chromium`"
	if os.Getenv("CI") != "" {
		t.Fatal(msg + "; CI is set, so the browser tests must run")
	}
	t.Skip(msg + "; skipping the browser tests")
	return ""
}

// newBrowser starts a headless Chromium with a fresh profile and returns a
// context for one tab in it, already started. The deadline is only a guard
// against a hung browser, not a performance assertion.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	exe := findBrowser(t)
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(exe),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.Flag("lang", "en-US"), // numbers as the tests write them: 1,234.50
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1366, 900),
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelAlloc)
	ctx, cancelTab := chromedp.NewContext(allocCtx)
	t.Cleanup(cancelTab)
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("starting %s: %v", exe, err)
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// evalJSON evaluates a JavaScript expression in the page and decodes its
// JSON-serializable value into a value of type T.
func evalJSON[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](`JSON.stringify(`+expr+`)`))
	if err != nil {
		t.Fatalf("evaluating %s: %v", expr, err)
	}
	var v T
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("decoding %s = %s: %v", expr, s, err)
	}
	return v
}

func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// artifactsDir is where screenshots go: $TALLY_ARTIFACTS when set (CI keeps
// it), else a temporary folder the test logs.
func artifactsDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("TALLY_ARTIFACTS")
	if dir == "" {
		d, err := os.MkdirTemp("", "tally-artifacts-")
		if err != nil {
			t.Fatal(err)
		}
		dir = d
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// saveScreenshot saves the whole page, at the current viewport width.
func saveScreenshot(t *testing.T, ctx context.Context, dir, name string) {
	t.Helper()
	waitIdle(t, ctx)
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", p)
}

// waitIdle waits until the page has finished its latest load: nothing
// busy, and two animation frames passed so resize redraws are done.
func waitIdle(t *testing.T, ctx context.Context) {
	t.Helper()
	_, err := chromedp.Run(ctx, chromedp.Poll[bool](`document.body.dataset.loaded !== undefined && !document.querySelector('[aria-busy=true]')`))
	if err == nil {
		_, err = chromedp.Run(ctx, chromedp.Evaluate[bool](
			`new Promise(r => requestAnimationFrame(() => requestAnimationFrame(() => r(true))))`, chromedp.EvalAwaitPromise))
	}
	if err != nil {
		t.Fatalf("waiting for the page to load: %v", err)
	}
}
