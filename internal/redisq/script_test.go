package redisq

import (
	"context"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/jobqueue-go/jobqueue/conformance/redistest"
)

func TestMain(m *testing.M) { redistest.Main(m) }

// TestScriptsLoad loads every embedded script into a real Redis, which
// compiles it, and checks that the server names it by the SHA that EVALSHA
// will use.
func TestScriptsLoad(t *testing.T) {
	srv := redistest.Shared(t)
	opt, err := redis.ParseURL(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	c := redis.NewClient(opt)
	defer c.Close()
	ctx := context.Background()
	if len(Scripts()) != 12 {
		t.Fatalf("Scripts() has %d scripts, want 12", len(Scripts()))
	}
	for _, s := range Scripts() {
		sha, err := c.ScriptLoad(ctx, s.Src).Result()
		if err != nil {
			t.Errorf("%s: SCRIPT LOAD: %v", s.Name, err)
			continue
		}
		if sha != s.SHA {
			t.Errorf("%s: server SHA %s, ours %s", s.Name, sha, s.SHA)
		}
		if !strings.Contains(s.Src, "-- "+s.Name+".lua") {
			t.Errorf("%s: source lacks its header comment", s.Name)
		}
	}
}
