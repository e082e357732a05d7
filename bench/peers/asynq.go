package main

import (
	"context"

	"github.com/hibiken/asynq"
)

// asynqSubject is asynq with its defaults: tasks of one type on the
// "default" queue, a Server of Concurrency handlers. The only setting
// changed is the log level, so that the Server's start and stop lines do
// not mix with the report.
type asynqSubject struct {
	opt    asynq.RedisClientOpt
	client *asynq.Client
	server *asynq.Server
}

// asynqTask is the task type of every job.
const asynqTask = "bench"

func openAsynq(_ context.Context, addr string) (subject, error) {
	opt := asynq.RedisClientOpt{Addr: addr}
	return &asynqSubject{opt: opt, client: asynq.NewClient(opt)}, nil
}

func (s *asynqSubject) EnqueueOne(ctx context.Context, payload []byte) error {
	_, err := s.client.EnqueueContext(ctx, asynq.NewTask(asynqTask, payload))
	return err
}

func (s *asynqSubject) EnqueueBatch(context.Context, [][]byte) error { return errNoBatch }

func (s *asynqSubject) StartWorkers(_ context.Context, n int, handler func([]byte)) (func(), error) {
	s.server = asynq.NewServer(s.opt, asynq.Config{Concurrency: n, LogLevel: asynq.WarnLevel})
	err := s.server.Start(asynq.HandlerFunc(func(_ context.Context, t *asynq.Task) error {
		handler(t.Payload())
		return nil
	}))
	if err != nil {
		return nil, err
	}
	return s.server.Shutdown, nil
}

func (s *asynqSubject) Close() error { return s.client.Close() }
