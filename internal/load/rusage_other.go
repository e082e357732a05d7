//go:build !unix

package load

import "time"

// ProcessCPU reports nothing where getrusage is missing; the report then
// shows zero client CPU.
func ProcessCPU() time.Duration { return 0 }
