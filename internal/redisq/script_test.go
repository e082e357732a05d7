package redisq

import (
	"context"
	"regexp"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/jobqueue-go/jobqueue/conformance/redistest"
)

func TestMain(m *testing.M) { redistest.Main(m) }

// TestLibraryLoads loads the library into a fresh Redis, which compiles it
// and registers every function (Lua's limits on locals and upvalues
// included), and checks each function's name and flags as Redis lists
// them. A second load is answered as already done.
func TestLibraryLoads(t *testing.T) {
	srv := redistest.Start(t)
	opt, err := redis.ParseURL(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	c := redis.NewClient(opt)
	defer c.Close()
	ctx := context.Background()

	if !regexp.MustCompile(`^jobqueue_[0-9a-f]{12}$`).MatchString(library.Name) {
		t.Errorf("library name %q, want jobqueue_ and 12 hex digits", library.Name)
	}
	if len(library.Functions) != 23 {
		t.Fatalf("the library has %d functions, want 23", len(library.Functions))
	}
	name, err := c.FunctionLoad(ctx, library.Src).Result()
	if err != nil {
		t.Fatalf("FUNCTION LOAD: %v", err)
	}
	if name != library.Name {
		t.Errorf("FUNCTION LOAD named the library %q, want %q", name, library.Name)
	}
	libs, err := c.FunctionList(ctx, redis.FunctionListQuery{LibraryNamePattern: library.Name}).Result()
	if err != nil || len(libs) != 1 {
		t.Fatalf("FUNCTION LIST: %v, %v", libs, err)
	}
	registered := map[string][]string{}
	for _, f := range libs[0].Functions {
		registered[f.Name] = f.Flags
	}
	want := map[string]string{
		"enqueue": "", "retry_dead": "",
		"get": "no-writes", "summaries": "no-writes", "list": "no-writes", "stats": "no-writes", "history": "no-writes",
		"claim": "allow-oom", "ack": "allow-oom", "extend": "allow-oom", "reclaim": "allow-oom",
		"delete": "allow-oom", "purge": "allow-oom", "poke": "allow-oom", "beat": "allow-oom",
		"cancel":   "allow-oom",
		"control":  "allow-oom",
		"schedule": "allow-oom", "schedules": "no-writes", "unschedule": "allow-oom",
		"register": "allow-oom", "forget": "allow-oom", "queues": "no-writes",
	}
	for _, f := range library.Functions {
		flags, ok := registered[f.Name]
		switch {
		case !ok:
			t.Errorf("%s: not registered by the library", f.Name)
		case strings.Join(flags, ",") != want[f.Script]:
			t.Errorf("%s: flags %v, want %q", f.Name, flags, want[f.Script])
		case f.ReadOnly != (want[f.Script] == "no-writes"):
			t.Errorf("%s: ReadOnly is %v", f.Name, f.ReadOnly)
		case f.Name != library.Name+"_"+f.Script:
			t.Errorf("%s: not named after the library and its script %s", f.Name, f.Script)
		}
		if !strings.Contains(library.Src, "-- "+f.Script+".lua") {
			t.Errorf("%s: the source lacks the header comment of %s.lua", f.Name, f.Script)
		}
		delete(registered, f.Name)
	}
	for name := range registered {
		t.Errorf("the library registers %s, which the Engine does not know", name)
	}

	// Functions that only read, called on an empty queue: their bodies
	// run, not only compile.
	k := KeysFor("load-test")
	for _, f := range []*Function{scriptStats, scriptPoke, scriptHistory} {
		fcall := c.FCall
		if f.ReadOnly {
			fcall = c.FCallRO
		}
		// history's minutes; the others ignore it.
		if err := fcall(ctx, f.Name, k.scriptKeys(""), k.JobPrefix, k.Events, "1440").Err(); err != nil {
			t.Errorf("FCALL %s: %v", f.Name, err)
		}
	}

	// The registry's read, on the registry: its one key.
	if err := c.FCallRO(ctx, scriptQueues.Name, registryKeys).Err(); err != nil {
		t.Errorf("FCALL_RO %s: %v", scriptQueues.Name, err)
	}

	err = loadOn(ctx, Node{Do: func(ctx context.Context, args ...string) (any, error) {
		a := make([]any, len(args))
		for i, x := range args {
			a[i] = x
		}
		_, err := c.Do(ctx, a...).Result()
		if err != nil {
			return nil, ReplyError(err.Error())
		}
		return nil, nil
	}})
	if err != nil {
		t.Errorf("a second load: %v, want it taken as done", err)
	}
}

// TestLibraryVersion checks that the library's name follows its source:
// the same files give the same name, and any change to them another.
func TestLibraryVersion(t *testing.T) {
	if again := buildLibrary(); again.Name != library.Name || again.Src != library.Src {
		t.Errorf("building the library twice gave %s and %s", library.Name, again.Name)
	}
	if strings.Count(library.Src, library.Name) != 1+len(library.Functions) {
		t.Errorf("the library's name should appear in its first line and in each function's name only")
	}
	if !strings.HasPrefix(library.Src, "#!lua name="+library.Name+"\n") {
		t.Errorf("the library does not start with its #!lua line: %.40q", library.Src)
	}
	other := strings.Replace(librarySource(libraryPrefix), "PROMOTE_BATCH = 1000", "PROMOTE_BATCH = 999", 1)
	if other == librarySource(libraryPrefix) {
		t.Fatal("the edit below changed nothing; pick another")
	}
	if libraryName(other) == library.Name {
		t.Errorf("a changed source kept the name %s", library.Name)
	}
}
