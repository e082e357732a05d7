package rueidis_test

import (
	"testing"

	"github.com/jobqueue-go/jobqueue/internal/redisq/redisqtest"
)

func TestConfigCheck(t *testing.T)         { redisqtest.ConfigCheck(t, redisqtest.Rueidis) }
func TestWorkerConfigWarning(t *testing.T) { redisqtest.WorkerConfigWarning(t, redisqtest.Rueidis) }
func TestClusterConfigCheck(t *testing.T)  { redisqtest.ClusterConfigCheck(t, newClusterBackend) }
