package slot

import "testing"

// TestOf checks slots that Redis's CLUSTER KEYSLOT returns (the cluster
// test in redistest asks a real Cluster for more).
func TestOf(t *testing.T) {
	for key, want := range map[string]int{
		"":                  0,
		"123456789":         12739, // the CRC-16/XMODEM check value, 0x31C3
		"foo":               12182,
		"queue:{jobs}:x":    Of("jobs"),
		"{}jobs":            Of("{}jobs"),
		"a{b}c{d}":          Of("b"),
		"queue:{j}:job:{x}": Of("j"),
	} {
		if got := Of(key); got != want {
			t.Errorf("Of(%q) = %d, want %d", key, got, want)
		}
	}
	if Hashed("{}jobs") != "{}jobs" || Hashed("x{y") != "x{y" {
		t.Error("an empty or unclosed hash tag is not a tag")
	}
}
