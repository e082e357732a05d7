package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// recipeSubject is the classic reliable-queue recipe written by hand on
// go-redis: a job is a hash (payload, status) and its id moves from the
// pending list to the processing list with BLMOVE, then to a completed
// list trimmed to the last recipeCompletedMax ids. It is the least a
// reliable queue does, without what a library adds: no reaper returns
// ids left in processing by a dead worker, no retries, and the hashes of
// jobs trimmed from the completed list are left behind (expiring them
// would cost one more command per job).
//
// A handler's BLMOVE holds a connection for its whole wait, so the
// workers send their BLMOVEs on a client of their own with one connection
// per handler, and the rest on the subject's client, which has go-redis's
// defaults. Stopping the workers closes their BLMOVE client, which ends
// the waits at once (go-redis does not end a blocking call when its
// context ends).
type recipeSubject struct {
	addr string
	c    *redis.Client
	// errors counts failed calls of the workers.
	errors atomic.Int64
}

const (
	recipePending      = "recipe:pending"
	recipeProcessing   = "recipe:processing"
	recipeCompleted    = "recipe:completed"
	recipeCompletedMax = 50
	// recipeWait is the BLMOVE timeout, which is what an idle handler
	// costs: one call per recipeWait. It is jobqueue's default ClaimWait.
	recipeWait = 5 * time.Second
)

func recipeJob(id string) string { return "recipe:job:" + id }

func openRecipe(_ context.Context, addr string) (subject, error) {
	return &recipeSubject{addr: addr, c: redis.NewClient(&redis.Options{Addr: addr})}, nil
}

// EnqueueOne writes the job's hash, then pushes its id, in one pipeline.
func (s *recipeSubject) EnqueueOne(ctx context.Context, payload []byte) error {
	return s.EnqueueBatch(ctx, [][]byte{payload})
}

// EnqueueBatch writes every job's hash, then pushes all the ids with one
// LPUSH, in one pipeline.
func (s *recipeSubject) EnqueueBatch(ctx context.Context, payloads [][]byte) error {
	ids := make([]any, len(payloads))
	_, err := s.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, payload := range payloads {
			id := newRecipeID()
			ids[i] = id
			p.HSet(ctx, recipeJob(id), "payload", payload, "status", "pending")
		}
		p.LPush(ctx, recipePending, ids...)
		return nil
	})
	return err
}

func (s *recipeSubject) StartWorkers(ctx context.Context, n int, handler func([]byte)) (func(), error) {
	waits := redis.NewClient(&redis.Options{Addr: s.addr, PoolSize: n})
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() { s.work(ctx, waits, handler) })
	}
	return func() {
		cancel()
		_ = waits.Close()
		wg.Wait()
	}, nil
}

// work runs jobs until ctx ends, taking them with BLMOVE on waits. A job
// taken is finished even when ctx ends meanwhile.
func (s *recipeSubject) work(ctx context.Context, waits *redis.Client, handler func([]byte)) {
	bg := context.WithoutCancel(ctx)
	for ctx.Err() == nil {
		id, err := waits.BLMove(ctx, recipePending, recipeProcessing, "RIGHT", "LEFT", recipeWait).Result()
		if errors.Is(err, redis.Nil) {
			continue // the wait ran out
		}
		if err != nil {
			if ctx.Err() == nil {
				s.fail()
			}
			continue
		}
		var payload *redis.StringCmd
		_, err = s.c.Pipelined(bg, func(p redis.Pipeliner) error {
			p.HSet(bg, recipeJob(id), "status", "processing")
			payload = p.HGet(bg, recipeJob(id), "payload")
			return nil
		})
		if err != nil {
			s.fail()
			continue // left in processing, for a reaper the recipe lacks
		}
		handler([]byte(payload.Val()))
		_, err = s.c.Pipelined(bg, func(p redis.Pipeliner) error {
			p.LRem(bg, recipeProcessing, 1, id)
			p.HSet(bg, recipeJob(id), "status", "completed")
			p.LPush(bg, recipeCompleted, id)
			p.LTrim(bg, recipeCompleted, 0, recipeCompletedMax-1)
			return nil
		})
		if err != nil {
			s.fail()
		}
	}
}

// fail counts a failed call and pauses, so that a server that is gone is
// not called in a tight loop.
func (s *recipeSubject) fail() {
	s.errors.Add(1)
	time.Sleep(100 * time.Millisecond)
}

func (s *recipeSubject) Close() error {
	var err error
	if n := s.errors.Load(); n > 0 {
		err = fmt.Errorf("recipe: %d calls failed", n)
	}
	return errors.Join(err, s.c.Close())
}

// newRecipeID returns a random job id.
func newRecipeID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
