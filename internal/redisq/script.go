package redisq

import (
	"crypto/sha1"
	"embed"
	"encoding/hex"
	"fmt"

	"github.com/jobqueue-go/jobqueue/backend"
)

//go:embed lua/*.lua
var luaFiles embed.FS

// Script is one Lua script: its source (a flags line, the request window,
// then lib.lua, then the script's own file) and the SHA1 that EVALSHA names
// it by.
type Script struct {
	Name string
	Src  string
	SHA  string
	// ReadOnly scripts declare the no-writes flag: an adapter runs them
	// with EVALSHA_RO (EVAL_RO), so they may be served by a replica.
	ReadOnly bool
}

// The first line of every script declares its flags to Redis (a "#!lua"
// line, read by Redis 7.0 and later). One flag matters here, allow-oom:
// whether a script may run while Redis's memory is over maxmemory under
// the noeviction policy.
//
// A script without allow-oom is refused whole, before it runs, with an OOM
// error (backend.ErrFull). That is right for the scripts that add work,
// enqueue and retry_dead: nothing of them is written, and the caller hears
// why.
//
// The reads (get, list, stats) declare no-writes instead, which Redis also
// runs while memory is full, and on a replica: Redis refuses a write
// command inside them, so a read can never write by mistake.
//
// Every other script declares allow-oom: claims, acknowledgements,
// heartbeats, reclaims and deletions must go on while memory is
// full, or a full Redis would stop the very workers that drain it, refuse
// the heartbeats of running jobs (whose leases would then expire and run
// them twice) and hide the queue from its inspection. What they add is
// small and bounded by the jobs they move: a request record per call that
// has a request id, a history entry per finished job, whose record
// expires with its retention.
//
// Without the line, a script would run in Redis's compatibility mode,
// where the refusal comes at the script's first write that may grow
// memory, unless another write ran before it: a complete (whose first
// write is an HSET) and a heartbeat (a ZADD) would be refused, a claim
// (an LPOP first) not. Declared flags make the rule the same for every
// script, whatever the order of its writes.
const (
	denyOOM  = "#!lua\n"
	allowOOM = "#!lua flags=allow-oom\n"
	noWrites = "#!lua flags=no-writes\n"
)

// requestWindow is the Lua line that gives lib.lua the request window.
var requestWindow = fmt.Sprintf("local REQUEST_WINDOW_MS = %d\n", backend.RequestWindow.Milliseconds())

func loadScript(name, flags string) *Script {
	lib, err := luaFiles.ReadFile("lua/lib.lua")
	if err != nil {
		panic(err) // embedded at build time; cannot fail
	}
	body, err := luaFiles.ReadFile("lua/" + name + ".lua")
	if err != nil {
		panic(err)
	}
	src := flags + requestWindow + string(lib) + "\n" + string(body)
	sum := sha1.Sum([]byte(src))
	return &Script{Name: name, Src: src, SHA: hex.EncodeToString(sum[:]), ReadOnly: flags == noWrites}
}

// The scripts, one per state change or read.
var (
	scriptEnqueue   = loadScript("enqueue", denyOOM)
	scriptClaim     = loadScript("claim", allowOOM)
	scriptAck       = loadScript("ack", allowOOM)
	scriptExtend    = loadScript("extend", allowOOM)
	scriptReclaim   = loadScript("reclaim", allowOOM)
	scriptGet       = loadScript("get", noWrites)
	scriptList      = loadScript("list", noWrites)
	scriptStats     = loadScript("stats", noWrites)
	scriptRetryDead = loadScript("retry_dead", denyOOM)
	scriptDelete    = loadScript("delete", allowOOM)
	scriptPurge     = loadScript("purge", allowOOM)
	scriptPoke      = loadScript("poke", allowOOM)
)

// Scripts returns every script, for tests and for preloading with SCRIPT
// LOAD.
func Scripts() []*Script {
	return []*Script{
		scriptEnqueue, scriptClaim, scriptAck, scriptExtend, scriptReclaim, scriptGet,
		scriptList, scriptStats, scriptRetryDead, scriptDelete, scriptPurge, scriptPoke,
	}
}
