package jobqueue_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestReadmeProgramsCompile builds every Go block of the README that is a
// whole program (it starts with "package main"), as a newcomer would paste
// it, so that the README's examples cannot drift from the API.
func TestReadmeProgramsCompile(t *testing.T) {
	if testing.Short() {
		t.Skip("builds programs with the go command")
	}
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	var programs []string
	for block := range strings.SplitSeq(string(readme), "```go\n") {
		code, _, ok := strings.Cut(block, "```")
		if ok && strings.HasPrefix(code, "package main") {
			programs = append(programs, code)
		}
	}
	if len(programs) < 2 {
		t.Fatalf("the README has %d whole programs; want the go-redis and the rueidis one at least", len(programs))
	}
	// Inside the module, so that its packages and dependencies resolve.
	dir, err := os.MkdirTemp(".", "readme-programs-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	for i, code := range programs {
		pkg := filepath.Join(dir, "p"+string(rune('a'+i)))
		if err := os.Mkdir(pkg, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(pkg, "main.go"), []byte(code), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	out, err := exec.Command("go", "vet", "./"+dir+"/...").CombinedOutput()
	if err != nil {
		t.Fatalf("a README program does not compile (go vet): %v\n%s", err, out)
	}
}
