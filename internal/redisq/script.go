package redisq

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/jobqueue-go/jobqueue/backend"
)

//go:embed lua/*.lua
var luaFiles embed.FS

// Library is the Redis Functions library that holds every script of
// lua/ as a function: lib.lua first, then each script's file as the body
// of its function. Redis keeps it once per server (FUNCTION LOAD), so a
// call (FCALL) runs only its own function, not lib.lua again.
type Library struct {
	// Name is "jobqueue_" and a short hash of the library's source, so
	// processes that run different versions of jobqueue on one Redis each
	// load their own library and never replace another's.
	Name string
	// Src is the library's source, FUNCTION LOAD's argument.
	Src string
	// Functions are the library's functions, one per script.
	Functions []*Function
}

// Function is one script of the library.
type Function struct {
	// Script is the name of the script's file, without ".lua".
	Script string
	// Name is the function's name in Redis, the library's name, "_" and
	// Script: function names are global to a server, so each version of
	// the library has its own.
	Name string
	// ReadOnly functions declare the no-writes flag: an adapter calls
	// them with FCALL_RO, so they may be served by a replica.
	ReadOnly bool
}

// Function returns the function that runs script, or nil.
func (l *Library) Function(script string) *Function {
	for _, f := range l.Functions {
		if f.Script == script {
			return f
		}
	}
	return nil
}

// Every function declares its flags to Redis as it is registered. One
// flag matters here, allow-oom: whether a function may run while Redis's
// memory is over maxmemory under the noeviction policy.
//
// A function without allow-oom (denyOOM, no flags at all) is refused
// whole, before it runs, with an OOM error (backend.ErrFull). That is
// right for the scripts that add work, enqueue and retry_dead: nothing of
// them is written, and the caller hears why.
//
// The reads (get, summaries, list, stats, history, schedules, queues) declare
// no-writes instead, which Redis also runs while memory is full, and on a
// replica: Redis refuses a write command inside them, so a read can never
// write by mistake.
//
// Every other script declares allow-oom: claims, acknowledgements,
// heartbeats, reclaims, deletions, worker beats, registering a queue (a
// Worker that starts on a full Redis, to drain it) and pausing or limiting
// a queue (a few fields of one hash) must go on while memory is full, or
// a full Redis would stop the very workers that drain it, refuse the
// heartbeats of running jobs (whose leases would then expire and run them
// twice) and hide the queue from its inspection. What they add is
// small and bounded by the jobs they move: a request record per call that
// has a request id, a history entry per finished job, whose record
// expires with its retention; a beat adds one entry per process that
// works the queue, a schedule's record three fields per schedule, and a
// queue's registration one member of the registry per queue.
//
// Declared flags make the rule the same for every script, whatever the
// order of its writes. (An EVAL script without a flags line would run in
// Redis's compatibility mode, where the refusal comes at the script's
// first write that may grow memory, unless another write ran before it;
// functions always have declared flags.)
const (
	denyOOM  = "{}"
	allowOOM = "{'allow-oom'}"
	noWrites = "{'no-writes'}"
)

// scripts are the files of lua/ that become functions, one per state
// change or read, with their flags.
var scripts = []struct{ name, flags string }{
	{"enqueue", denyOOM},
	{"claim", allowOOM},
	{"ack", allowOOM},
	{"extend", allowOOM},
	{"reclaim", allowOOM},
	{"get", noWrites},
	{"summaries", noWrites},
	{"list", noWrites},
	{"stats", noWrites},
	{"history", noWrites},
	{"retry_dead", denyOOM},
	{"delete", allowOOM},
	{"purge", allowOOM},
	{"poke", allowOOM},
	{"beat", allowOOM},
	{"cancel", allowOOM},
	{"control", allowOOM},
	{"schedule", allowOOM},
	{"schedules", noWrites},
	{"unschedule", allowOOM},
	{"register", allowOOM},
	{"forget", allowOOM},
	{"queues", noWrites},
}

// libraryPrefix starts the name of every version of the library.
const libraryPrefix = "jobqueue"

// buildLibrary builds the library from the embedded files. Its version is
// a hash of the source it has under the bare name libraryPrefix, so it
// changes with any file, flag or setting, and only then.
func buildLibrary() *Library {
	l := &Library{Name: libraryName(librarySource(libraryPrefix))}
	l.Src = librarySource(l.Name)
	for _, s := range scripts {
		l.Functions = append(l.Functions, &Function{Script: s.name, Name: l.Name + "_" + s.name, ReadOnly: s.flags == noWrites})
	}
	return l
}

// libraryName is the name of the library whose source is bare under the
// bare name libraryPrefix: 12 hex digits of its SHA-256.
func libraryName(bare string) string {
	sum := sha256.Sum256([]byte(bare))
	return libraryPrefix + "_" + hex.EncodeToString(sum[:6])
}

// librarySource is the library's source under the name name: a "#!lua"
// line, the request window, the highest priority level, the history's
// retention, lib.lua, and one redis.register_function per
// script whose callback binds the call's KEYS and ARGV (lib.lua's bind)
// and runs the script's file as it is.
func librarySource(name string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "#!lua name=%s\n", name)
	fmt.Fprintf(&b, "local REQUEST_WINDOW_MS = %d\n", backend.RequestWindow.Milliseconds())
	fmt.Fprintf(&b, "local MAX_LEVEL = %d\n", backend.MaxPriority)
	fmt.Fprintf(&b, "local HISTORY_MS = %d\n", backend.HistoryRetention.Milliseconds())
	fmt.Fprintf(&b, "local MAX_LIMITED_KINDS = %d\n", backend.MaxLimitedKinds)
	fmt.Fprintf(&b, "local MAX_PREVIEWED = %d\n", backend.MaxPreviewedPayload)
	b.WriteString(readLua("lib"))
	for _, s := range scripts {
		fmt.Fprintf(&b, "\nredis.register_function{function_name = '%s_%s', flags = %s, callback = function(KEYS, ARGV)\n",
			name, s.name, s.flags)
		b.WriteString("bind(KEYS, ARGV)\n")
		b.WriteString(readLua(s.name))
		b.WriteString("\nend}\n")
	}
	return b.String()
}

func readLua(name string) string {
	src, err := luaFiles.ReadFile("lua/" + name + ".lua")
	if err != nil {
		panic(err) // embedded at build time; cannot fail
	}
	return string(src)
}

// library is the one library, built once.
var library = buildLibrary()

// The functions the Engine calls.
var (
	scriptEnqueue    = library.Function("enqueue")
	scriptClaim      = library.Function("claim")
	scriptAck        = library.Function("ack")
	scriptExtend     = library.Function("extend")
	scriptReclaim    = library.Function("reclaim")
	scriptGet        = library.Function("get")
	scriptSummaries  = library.Function("summaries")
	scriptList       = library.Function("list")
	scriptStats      = library.Function("stats")
	scriptHistory    = library.Function("history")
	scriptRetryDead  = library.Function("retry_dead")
	scriptDelete     = library.Function("delete")
	scriptPurge      = library.Function("purge")
	scriptPoke       = library.Function("poke")
	scriptBeat       = library.Function("beat")
	scriptCancel     = library.Function("cancel")
	scriptControl    = library.Function("control")
	scriptSchedule   = library.Function("schedule")
	scriptSchedules  = library.Function("schedules")
	scriptUnschedule = library.Function("unschedule")
	scriptRegister   = library.Function("register")
	scriptForget     = library.Function("forget")
	scriptQueues     = library.Function("queues")
)

// FunctionLibrary returns the library, for tests and for loading it ahead
// of the first call.
func FunctionLibrary() *Library { return library }
