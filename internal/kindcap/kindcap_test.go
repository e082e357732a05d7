package kindcap

import (
	"fmt"
	"sync"
	"testing"
)

func TestCap(t *testing.T) {
	c := New(2)
	for _, step := range []struct{ kind, want string }{
		{"a", "a"}, {"", ""}, {"b", "b"}, {"c", Other}, {"a", "a"}, {"", ""}, {"b", "b"}, {"d", Other},
	} {
		if got := c.Label(step.kind); got != step.want {
			t.Errorf("Label(%q) = %q, want %q", step.kind, got, step.want)
		}
	}
	if got := New(0).Label("a"); got != Other {
		t.Errorf("a cap of 0 labels %q, want %q", got, Other)
	}
}

// Many goroutines racing for the last places admit exactly max kinds, and
// each kind keeps one label.
func TestCapConcurrent(t *testing.T) {
	const max = 10
	c := New(max)
	var mu sync.Mutex
	labels := map[string]map[string]bool{}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 100 {
				kind := fmt.Sprintf("k%d", (i*7+g)%40)
				l := c.Label(kind)
				mu.Lock()
				if labels[kind] == nil {
					labels[kind] = map[string]bool{}
				}
				labels[kind][l] = true
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	own := 0
	for kind, ls := range labels {
		if len(ls) != 1 {
			t.Errorf("kind %s got labels %v, want one", kind, ls)
		}
		if ls[kind] {
			own++
		}
	}
	if own != max {
		t.Errorf("%d kinds got their own label, want %d", own, max)
	}
}
