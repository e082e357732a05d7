// Package browsertest drives a real headless Chromium for the tests of
// the project's web pages (the demo's in cmd/jobqueue, the dashboard's):
// one place that knows where the browser is, when its absence skips a
// test and when it fails one, and where screenshots go; and the backend
// their outage tests kill Redis under (FailFast).
package browsertest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/redis/go-redis/v9"

	"github.com/jobqueue-go/jobqueue/backend"
	"github.com/jobqueue-go/jobqueue/goredis"
)

// ChromiumPath is the browser the tests run: Debian's chromium package.
const ChromiumPath = "/usr/bin/chromium"

// EnvScreenshotDir names the environment variable that, when set, is a
// directory SaveScreenshot copies every screenshot to (the README's
// images are made this way).
const EnvScreenshotDir = "JOBQUEUE_SCREENSHOT_DIR"

// InCI reports whether the environment says this is a CI run, where a
// missing browser must fail the test rather than skip it.
func InCI() bool {
	v, err := strconv.ParseBool(os.Getenv("CI"))
	return err == nil && v
}

// New starts headless Chromium for one test and returns a context whose
// actions run in its tab; the test's cleanup stops the browser. Without
// Chromium the test is skipped, or fails under CI=true.
func New(t *testing.T) context.Context {
	t.Helper()
	if _, err := os.Stat(ChromiumPath); err != nil {
		if InCI() {
			t.Fatalf("browser test needs %s (Debian package chromium), and CI is set: %v", ChromiumPath, err)
		}
		t.Skipf("skipping the browser test: %s not found (install the Debian chromium package); under CI=true this fails", ChromiumPath)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(ChromiumPath),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1440, 1000),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
	})
	// The first run starts the browser; it must not carry a timeout.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start %s: %v", ChromiumPath, err)
	}
	return ctx
}

// Step runs browser actions with a deadline, failing the test with what
// it was doing.
func Step(t *testing.T, ctx context.Context, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if err := chromedp.Do(sctx, actions...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// Until waits for a JavaScript predicate on the page.
func Until(expr string) chromedp.Action[chromedp.Void] {
	return chromedp.Poll[chromedp.Void](expr, chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(12*time.Second))
}

// Count is a JavaScript expression: how many elements sel matches.
func Count(sel string) string {
	return fmt.Sprintf("document.querySelectorAll(%q).length", sel)
}

// SaveScreenshot saves a PNG of the page in the test's temp dir and, when
// JOBQUEUE_SCREENSHOT_DIR is set, there too.
func SaveScreenshot(t *testing.T, ctx context.Context, name string, shot chromedp.Action[[]byte]) {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	png, err := chromedp.Run(sctx, shot)
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	dirs := []string{t.TempDir()}
	if d := os.Getenv(EnvScreenshotDir); d != "" {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		dirs = append(dirs, d)
	}
	for _, d := range dirs {
		p := filepath.Join(d, name)
		if err := os.WriteFile(p, png, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("screenshot saved to %s", p)
	}
}

// FailFast returns a go-redis backend on the Redis at rawURL that tries
// each command and each dial once, so that a page under test reports a
// Redis that is gone at once, with the client's own reason ("connection
// refused"), rather than after the client's retries. The test's cleanup
// closes it.
func FailFast(t *testing.T, rawURL string) backend.Backend {
	t.Helper()
	opt, err := redis.ParseURL(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	opt.MaxRetries = -1
	opt.DialerRetries = 1
	c := redis.NewClient(opt)
	b := goredis.New(c)
	t.Cleanup(func() { b.Close(); _ = c.Close() })
	return b
}
