package redistest

import (
	"context"
	"net/url"
	"sync"
	"time"

	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"
	tcredis "github.com/testcontainers/testcontainers-go/modules/redis"
)

const (
	// containerImage is the image used when Redis runs in Docker.
	containerImage = "redis:7"
	// dockerProbeTimeout bounds the check for a Docker engine, which is paid
	// once per test binary even on machines without one.
	dockerProbeTimeout = time.Second
	// containerStartTimeout leaves room for pulling the image.
	containerStartTimeout = 2 * time.Minute
)

var dockerProbe struct {
	once sync.Once
	err  error
}

// dockerAnswers reports whether a Docker engine answers a ping, using
// testcontainers' own discovery (DOCKER_HOST, contexts, the default and
// rootless sockets) so the check agrees with what would run the container.
func dockerAnswers() error {
	dockerProbe.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), dockerProbeTimeout)
		defer cancel()
		cli, err := testcontainers.NewDockerClientWithOpts(ctx)
		if err != nil {
			dockerProbe.err = err
			return
		}
		defer cli.Close()
		_, dockerProbe.err = cli.Ping(ctx, client.PingOptions{})
	})
	return dockerProbe.err
}

// startContainer runs Redis in Docker with the same defaults as a local
// process: no persistence unless extra turns it on.
func startContainer(extra []string) (*Server, error) {
	ctx, cancel := context.WithTimeout(context.Background(), containerStartTimeout)
	defer cancel()
	args := append([]string{"--save", "", "--appendonly", "no"}, extra...)
	c, err := tcredis.Run(ctx, containerImage, testcontainers.WithCmdArgs(args...))
	if err != nil {
		if c != nil {
			_ = testcontainers.TerminateContainer(c)
		}
		return nil, err
	}
	raw, err := c.ConnectionString(ctx)
	if err == nil {
		var u *url.URL
		if u, err = url.Parse(raw); err == nil {
			return &Server{Addr: u.Host, URL: raw, Source: SourceContainer, ctr: c}, nil
		}
	}
	_ = testcontainers.TerminateContainer(c)
	return nil, errorf("container address: %v", err)
}
