package redisq

import (
	"crypto/sha1"
	"embed"
	"encoding/hex"
)

//go:embed lua/*.lua
var luaFiles embed.FS

// Script is one Lua script: its source (lib.lua followed by the script's
// own file) and the SHA1 that EVALSHA names it by.
type Script struct {
	Name string
	Src  string
	SHA  string
}

func loadScript(name string) *Script {
	lib, err := luaFiles.ReadFile("lua/lib.lua")
	if err != nil {
		panic(err) // embedded at build time; cannot fail
	}
	body, err := luaFiles.ReadFile("lua/" + name + ".lua")
	if err != nil {
		panic(err)
	}
	src := string(lib) + "\n" + string(body)
	sum := sha1.Sum([]byte(src))
	return &Script{Name: name, Src: src, SHA: hex.EncodeToString(sum[:])}
}

// The scripts, one per state change or read.
var (
	scriptEnqueue   = loadScript("enqueue")
	scriptClaim     = loadScript("claim")
	scriptAck       = loadScript("ack")
	scriptExtend    = loadScript("extend")
	scriptReclaim   = loadScript("reclaim")
	scriptGet       = loadScript("get")
	scriptList      = loadScript("list")
	scriptStats     = loadScript("stats")
	scriptRetryDead = loadScript("retry_dead")
	scriptDelete    = loadScript("delete")
	scriptPurge     = loadScript("purge")
	scriptPoke      = loadScript("poke")
)

// Scripts returns every script, for tests and for preloading with SCRIPT
// LOAD.
func Scripts() []*Script {
	return []*Script{
		scriptEnqueue, scriptClaim, scriptAck, scriptExtend, scriptReclaim, scriptGet,
		scriptList, scriptStats, scriptRetryDead, scriptDelete, scriptPurge, scriptPoke,
	}
}
