package main

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/adjust/rmq/v5"
	"github.com/redis/go-redis/v9"
)

// rmqSubject is rmq on a go-redis client with go-redis's defaults, the
// queue "bench", and n consumers. rmq has no default prefetch limit or
// poll duration; it gets those of its example consumer, 1000 and 100 ms
// (its README's 10 and 1 s would allow at most 10 jobs per second).
// Publish of many payloads is one LPUSH, a real one-round-trip batch.
type rmqSubject struct {
	client *redis.Client
	conn   rmq.Connection
	queue  rmq.Queue
	errs   chan error
	// ackErrors counts deliveries whose Ack failed.
	ackErrors atomic.Int64
}

const (
	rmqPrefetch = 1000
	rmqPoll     = 100 * time.Millisecond
)

func openRmq(_ context.Context, addr string) (subject, error) {
	client := redis.NewClient(&redis.Options{Addr: addr})
	// rmq's heartbeat goroutine outlives the connection: after Close it
	// fails once a second and ends after HeartbeatErrorLimit failures, on
	// a send to this channel that must not block.
	errs := make(chan error, 2*rmq.HeartbeatErrorLimit)
	conn, err := rmq.OpenConnectionWithRedisClient("bench", client, errs)
	if err != nil {
		_ = client.Close()
		return nil, err
	}
	queue, err := conn.OpenQueue("bench")
	if err != nil {
		_ = client.Close()
		return nil, err
	}
	return &rmqSubject{client: client, conn: conn, queue: queue, errs: errs}, nil
}

func (s *rmqSubject) EnqueueOne(_ context.Context, payload []byte) error {
	return s.queue.PublishBytes(payload)
}

func (s *rmqSubject) EnqueueBatch(_ context.Context, payloads [][]byte) error {
	return s.queue.PublishBytes(payloads...)
}

func (s *rmqSubject) StartWorkers(_ context.Context, n int, handler func([]byte)) (func(), error) {
	if err := s.queue.StartConsuming(rmqPrefetch, rmqPoll); err != nil {
		return nil, err
	}
	for range n {
		_, err := s.queue.AddConsumerFunc("bench", func(d rmq.Delivery) {
			handler([]byte(d.Payload()))
			if err := d.Ack(); err != nil {
				s.ackErrors.Add(1)
			}
		})
		if err != nil {
			<-s.conn.StopAllConsuming()
			return nil, err
		}
	}
	return func() { <-s.conn.StopAllConsuming() }, nil
}

// Close reports the errors rmq sent while the subject was open.
func (s *rmqSubject) Close() error {
	<-s.conn.StopAllConsuming()
	var err error
	for len(s.errs) > 0 {
		err = errors.Join(err, <-s.errs)
	}
	if n := s.ackErrors.Load(); n > 0 {
		err = errors.Join(err, fmt.Errorf("rmq: %d acks failed", n))
	}
	return errors.Join(err, s.client.Close())
}
