//go:build !unix

package load

import "time"

// processCPU reports nothing where getrusage is missing; the report then
// shows zero client CPU.
func processCPU() time.Duration { return 0 }
