package goredis_test

import (
	"testing"

	"github.com/jobqueue-go/jobqueue/internal/redisq/redisqtest"
)

func TestConfigCheck(t *testing.T)         { redisqtest.ConfigCheck(t, redisqtest.GoRedis) }
func TestWorkerConfigWarning(t *testing.T) { redisqtest.WorkerConfigWarning(t, redisqtest.GoRedis) }
func TestClusterConfigCheck(t *testing.T)  { redisqtest.ClusterConfigCheck(t, newClusterBackend) }
