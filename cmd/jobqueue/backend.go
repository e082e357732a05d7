package main

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	goredislib "github.com/redis/go-redis/v9"
	rueidislib "github.com/redis/rueidis"

	"github.com/jobqueue-go/jobqueue"
	"github.com/jobqueue-go/jobqueue/backend"
	"github.com/jobqueue-go/jobqueue/goredis"
	"github.com/jobqueue-go/jobqueue/internal/load"
	"github.com/jobqueue-go/jobqueue/internal/redisq"
	"github.com/jobqueue-go/jobqueue/memory"
	"github.com/jobqueue-go/jobqueue/rueidis"
)

const defaultRedisURL = "redis://127.0.0.1:6379/"

// Backend kinds of the -backend flag.
const (
	backendAuto    = "auto"
	backendGoredis = "goredis"
	backendRueidis = "rueidis"
	backendMemory  = "memory"
)

// redisTimeout bounds the first contact with Redis, so that auto falls back
// to memory quickly on a machine without Redis.
const redisTimeout = 1500 * time.Millisecond

// openedBackend is a backend chosen by -backend, with what to tell the user
// about it and how to let it go.
type openedBackend struct {
	backend.Backend
	// kind is memory, goredis or rueidis.
	kind string
	// desc says which store this is, never with a password.
	desc string
	// store names the store for --json ("redis"): Redis's URL with the
	// password redacted, or memory.
	store string
	// tried is the Redis URL, redacted, that a fallback to memory tried.
	tried string
	// note explains a fallback to memory; empty otherwise.
	note string
	// info reads the Redis server's INFO; nil on memory.
	info load.InfoFunc
	// stop stops the backend's goroutines that wait on Redis for claims,
	// leaving the client open; closeClient closes the client. Both are
	// nil on memory.
	stop, closeClient func()
	// forget deletes the request records of a queue, which a purge leaves
	// to expire (they answer a repeated call); nil on memory.
	forget func(ctx context.Context, queue string) error
}

// Close closes the backend and its client.
func (o *openedBackend) Close() {
	if o.stop != nil {
		o.stop()
	}
	if o.closeClient != nil {
		o.closeClient()
	}
}

// memoryBounds are the bounds of a memory backend (memory.WithMaxJobs,
// memory.WithMaxBytes); zero for none.
type memoryBounds struct {
	jobs  int
	bytes int64
}

// Demo bounds: "jobqueue serve" runs for as long as anyone likes, and
// anyone who reaches its page can enqueue, so on memory it must not grow
// with whatever was ever enqueued. 100,000 of the demo's jobs take about
// 70 MB by the backend's estimate, so the jobs' bound is the one reached.
const (
	demoMaxJobs = 100_000
	demoMaxMiB  = 256
)

// options are the memory backend's options for the bounds.
func (mb memoryBounds) options() []memory.Option {
	return []memory.Option{memory.WithMaxJobs(mb.jobs), memory.WithMaxBytes(mb.bytes)}
}

// String describes the bounds for the backend's description.
func (mb memoryBounds) String() string {
	var parts []string
	if mb.jobs > 0 {
		parts = append(parts, "at most "+thousands(int64(mb.jobs))+" jobs")
	}
	if mb.bytes > 0 {
		parts = append(parts, fmt.Sprintf("at most %s MiB", thousands(mb.bytes>>20)))
	}
	if len(parts) == 0 {
		return "no bound"
	}
	return strings.Join(parts, " and ")
}

// Remove deletes every key of queue, which nobody else may use and
// which must not register itself (jobqueue.WithoutRegistry): it stops the
// backend's waiting goroutines first, because the one that waits for idle
// workers arms the queue's wake-up marker again as it stops, then purges
// the queue and deletes its request records. The backend still answers
// calls other than waiting claims until Close.
func (o *openedBackend) Remove(ctx context.Context, q *jobqueue.Queue) error {
	if o.stop != nil {
		o.stop()
	}
	if err := q.Purge(ctx); err != nil {
		return err
	}
	if o.forget != nil {
		return o.forget(ctx, q.Name())
	}
	return nil
}

// requestPattern is the SCAN pattern of a queue's request records. A
// queue name holds no glob character (backend.ValidateQueueName).
func requestPattern(queue string) string { return redisq.KeysFor(queue).RequestPrefix + "*" }

// openBackend opens the backend named by kind on the Redis server at
// rawURL (REDIS_URL), trusting, for a rediss:// URL, the certificate
// authorities in caFile (REDIS_CA_FILE) instead of the system's when it is
// not "". A memory backend, chosen or fallen back to, has the bounds mem.
// Every message it returns has the password redacted.
func openBackend(ctx context.Context, kind, rawURL, caFile string, mem memoryBounds) (*openedBackend, error) {
	if rawURL == "" {
		rawURL = defaultRedisURL
	}
	shown := redactURL(rawURL)
	if kind == backendMemory {
		return memoryBackend("", mem), nil
	}
	if kind != backendAuto && kind != backendGoredis && kind != backendRueidis {
		return nil, usagef("jobqueue: unknown backend %q (want auto, goredis, rueidis or memory)", kind)
	}
	// A URL that does not parse is a mistake to report, never a reason to
	// fall back; and the parsers' own messages quote the URL, password
	// included, in escaped forms no scrubbing would find.
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, errors.New("jobqueue: REDIS_URL does not parse as a URL (want redis://[user:password@]host:port[/db] or rediss://…)")
	}
	if _, err := goredislib.ParseURL(rawURL); err != nil {
		return nil, fmt.Errorf("jobqueue: REDIS_URL %s: %s", shown, scrub(err, rawURL))
	}
	// The parsers take any digits for a port; a port out of range would
	// then fail to dial, which auto reads as "no Redis here".
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return nil, fmt.Errorf("jobqueue: REDIS_URL %s: port %s is out of range (1 to 65535)", shown, p)
		}
	}
	roots, err := loadCAFile(caFile, u)
	if err != nil {
		return nil, err
	}
	switch kind {
	case backendAuto, backendGoredis:
		o, err := openGoredis(ctx, rawURL, shown, roots)
		if err == nil {
			return o, nil
		}
		// A server that answers with an error (a wrong password, say) is
		// there but misconfigured: falling back would hide the mistake.
		var reply goredislib.Error
		if kind == backendAuto && !errors.As(err, &reply) {
			ob := memoryBackend(fmt.Sprintf("Redis at %s did not answer (%s)", shown, scrub(err, rawURL)), mem)
			ob.tried = shown
			return ob, nil
		}
		return nil, fmt.Errorf("jobqueue: go-redis backend on %s: %s", shown, scrub(err, rawURL))
	case backendRueidis:
		o, err := openRueidis(ctx, rawURL, shown, roots)
		if err != nil {
			return nil, fmt.Errorf("jobqueue: rueidis backend on %s: %s", shown, scrub(err, rawURL))
		}
		return o, nil
	}
	panic("unreachable: kind checked above")
}

// loadCAFile reads the certificate authorities of REDIS_CA_FILE, for a
// Redis whose certificate a private authority signed; nil when caFile is "".
func loadCAFile(caFile string, u *url.URL) (*x509.CertPool, error) {
	if caFile == "" {
		return nil, nil
	}
	// Trusting an authority means nothing without TLS, and a plain
	// redis:// here is more likely a mistake than a choice.
	if u.Scheme != "rediss" {
		return nil, errors.New("jobqueue: REDIS_CA_FILE is set, but REDIS_URL is not rediss://, so the connection would not use TLS")
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("jobqueue: REDIS_CA_FILE: %w", err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("jobqueue: REDIS_CA_FILE %s holds no PEM certificate", caFile)
	}
	return roots, nil
}

// memoryDesc is openedBackend.desc for the memory backend.
const memoryDesc = "the in-memory backend (jobs live only in this process)"

func memoryBackend(note string, mem memoryBounds) *openedBackend {
	desc := memoryDesc
	if mem != (memoryBounds{}) {
		desc = "the in-memory backend (jobs live only in this process; " + mem.String() + ")"
	}
	return &openedBackend{
		Backend: memory.New(mem.options()...),
		kind:    backendMemory,
		desc:    desc,
		store:   backendMemory,
		note:    note,
	}
}

func openGoredis(ctx context.Context, rawURL, shown string, roots *x509.CertPool) (*openedBackend, error) {
	opt, err := goredislib.ParseURL(rawURL)
	if err != nil {
		return nil, err
	}
	if roots != nil {
		opt.TLSConfig.RootCAs = roots // loadCAFile checked that this is rediss://
	}
	if err := probeRedis(ctx, opt); err != nil {
		return nil, err
	}
	client := goredislib.NewClient(opt)
	b := goredis.New(client)
	return &openedBackend{
		Backend:     b,
		kind:        backendGoredis,
		desc:        "Redis at " + shown + " (go-redis)",
		store:       shown,
		info:        load.GoRedisInfo(client),
		stop:        b.Close,
		closeClient: func() { client.Close() },
		forget: func(ctx context.Context, queue string) error {
			iter := client.Scan(ctx, 0, requestPattern(queue), 1000).Iterator()
			var keys []string
			for iter.Next(ctx) {
				keys = append(keys, iter.Val())
			}
			if err := iter.Err(); err != nil || len(keys) == 0 {
				return err
			}
			return client.Unlink(ctx, keys...).Err()
		},
	}, nil
}

// probeRedis pings the server once, without the client's retries, so that
// a machine without Redis hears so at once and with the real reason.
func probeRedis(ctx context.Context, opt *goredislib.Options) error {
	probe := *opt
	probe.MaxRetries = -1
	probe.DialerRetries = 1
	probe.PoolSize = 1
	probe.DialTimeout = redisTimeout
	client := goredislib.NewClient(&probe)
	defer client.Close()
	ctx, cancel := context.WithTimeout(ctx, redisTimeout)
	defer cancel()
	return client.Ping(ctx).Err()
}

// quietRedis drops go-redis's own log lines: the command reports the
// errors that matter itself, and the client's dial retries would drown them.
type quietRedis struct{}

func (quietRedis) Printf(context.Context, string, ...any) {}

func init() { goredislib.SetLogger(quietRedis{}) }

func openRueidis(ctx context.Context, rawURL, shown string, roots *x509.CertPool) (*openedBackend, error) {
	// rueidis reads the "/" that ends redis://host:port/ as an empty
	// database number; go-redis and the URL spec read it as database 0.
	if u, err := url.Parse(rawURL); err == nil && u.Path == "/" {
		u.Path = ""
		rawURL = u.String()
	}
	opt, err := rueidislib.ParseURL(rawURL)
	if err != nil {
		return nil, err
	}
	opt.Dialer.Timeout = redisTimeout
	if roots != nil {
		opt.TLSConfig.RootCAs = roots // loadCAFile checked that this is rediss://
	}
	// jobqueue never reads through rueidis's client-side cache, and the
	// cache needs CLIENT TRACKING, which a Redis user limited to one
	// queue's commands (README, "Security") is refused at connect.
	opt.DisableCache = true
	// The Queue repeats a call that fails with ErrUnavailable, a few times;
	// rueidis on its own would resend a read-only script (Stats, List,
	// Get) until the context ends, which for an HTTP request is never.
	opt.DisableRetry = true
	client, err := rueidislib.NewClient(opt)
	if err != nil {
		return nil, err
	}
	pctx, cancel := context.WithTimeout(ctx, redisTimeout)
	defer cancel()
	if err := client.Do(pctx, client.B().Ping().Build()).Error(); err != nil {
		client.Close()
		return nil, err
	}
	b := rueidis.New(client)
	return &openedBackend{
		Backend:     b,
		kind:        backendRueidis,
		desc:        "Redis at " + shown + " (rueidis)",
		store:       shown,
		info:        load.RueidisInfo(client),
		stop:        b.Close,
		closeClient: client.Close,
		forget: func(ctx context.Context, queue string) error {
			var keys []string
			for cursor := uint64(0); ; {
				e, err := client.Do(ctx, client.B().Scan().Cursor(cursor).Match(requestPattern(queue)).Count(1000).Build()).AsScanEntry()
				if err != nil {
					return err
				}
				keys = append(keys, e.Elements...)
				if cursor = e.Cursor; cursor == 0 {
					break
				}
			}
			if len(keys) == 0 {
				return nil
			}
			return client.Do(ctx, client.B().Unlink().Key(keys...).Build()).Error()
		},
	}, nil
}

// redactURL returns rawURL fit to print: its password, if any, replaced.
func redactURL(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		// A URL that does not parse may still hold a password; show none of it.
		return "(REDIS_URL that does not parse as a URL)"
	}
	return u.Redacted()
}

// scrub returns err's text with any secret of rawURL removed, because client
// libraries may quote the URL they were given.
func scrub(err error, rawURL string) string {
	msg := err.Error()
	if u, perr := url.Parse(rawURL); perr == nil {
		if pw, ok := u.User.Password(); ok && pw != "" {
			msg = strings.ReplaceAll(msg, rawURL, u.Redacted())
			msg = strings.ReplaceAll(msg, pw, "xxxxx")
		}
	} else {
		msg = strings.ReplaceAll(msg, rawURL, redactURL(rawURL))
		// Without a parse, hide whatever sits between "//" and "@".
		if i := strings.Index(rawURL, "//"); i >= 0 {
			if j := strings.LastIndex(rawURL, "@"); j > i+2 {
				msg = strings.ReplaceAll(msg, rawURL[i+2:j], "xxxxx")
			}
		}
	}
	return msg
}
