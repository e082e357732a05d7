package main

import (
	"context"
	"runtime"

	"github.com/gocraft/work"
	"github.com/gomodule/redigo/redis"
)

// gocraftSubject is gocraft/work with its defaults: jobs of one name in
// the namespace "bench", the payload as the job's one string argument, a
// WorkerPool of n workers. gocraft/work takes a redigo pool, whose size
// has no default (its README's example holds 5 connections); it gets the
// pool go-redis makes by default, 10 connections per GOMAXPROCS.
type gocraftSubject struct {
	pool     *redis.Pool
	enqueuer *work.Enqueuer
}

const (
	gocraftNamespace = "bench"
	gocraftJob       = "bench"
	gocraftArg       = "p"
)

func openGocraft(_ context.Context, addr string) (subject, error) {
	size := 10 * runtime.GOMAXPROCS(0)
	pool := &redis.Pool{
		MaxActive: size,
		MaxIdle:   size,
		Wait:      true,
		Dial:      func() (redis.Conn, error) { return redis.Dial("tcp", addr) },
	}
	return &gocraftSubject{pool: pool, enqueuer: work.NewEnqueuer(gocraftNamespace, pool)}, nil
}

func (s *gocraftSubject) EnqueueOne(_ context.Context, payload []byte) error {
	_, err := s.enqueuer.Enqueue(gocraftJob, work.Q{gocraftArg: string(payload)})
	return err
}

func (s *gocraftSubject) EnqueueBatch(context.Context, [][]byte) error { return errNoBatch }

func (s *gocraftSubject) StartWorkers(_ context.Context, n int, handler func([]byte)) (func(), error) {
	wp := work.NewWorkerPool(struct{}{}, uint(n), gocraftNamespace, s.pool)
	wp.Job(gocraftJob, func(j *work.Job) error {
		handler([]byte(j.ArgString(gocraftArg)))
		return nil
	})
	wp.Start()
	return wp.Stop, nil
}

func (s *gocraftSubject) Close() error { return s.pool.Close() }
