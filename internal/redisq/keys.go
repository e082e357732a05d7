package redisq

// Keys are the Redis keys of one queue. They are built here and nowhere
// else.
type Keys struct {
	Pending    string
	Processing string
	Scheduled  string
	Completed  string
	Failed     string
	Stats      string
	Marker     string
	// Events is the PUBLISH channel of the queue.
	Events string
	// JobPrefix followed by a job id is the key of the job's hash.
	JobPrefix string
	// ClaimPrefix followed by a claim's token base is the key that records
	// the ids the claim took, so the claim can be sent again safely.
	ClaimPrefix string
}

// KeysFor returns the keys of queue, which must already be a valid queue
// name (backend.ValidateQueueName).
func KeysFor(queue string) Keys {
	p := "queue:{" + queue + "}:"
	return Keys{
		Pending:     p + "pending",
		Processing:  p + "processing",
		Scheduled:   p + "scheduled",
		Completed:   p + "completed",
		Failed:      p + "failed",
		Stats:       p + "stats",
		Marker:      p + "marker",
		Events:      p + "events",
		JobPrefix:   p + "job:",
		ClaimPrefix: p + "claim:",
	}
}

// Job returns the key of one job's hash.
func (k Keys) Job(id string) string { return k.JobPrefix + id }

// Claim returns the key that records the ids taken by the claim whose
// token base is base.
func (k Keys) Claim(base string) string { return k.ClaimPrefix + base }

// scriptKeys is the KEYS array every script receives, in the order lib.lua
// documents.
func (k Keys) scriptKeys() []string {
	return []string{k.Pending, k.Processing, k.Scheduled, k.Completed, k.Failed, k.Stats, k.Marker}
}

// scriptArgs starts an ARGV array with the two arguments every script
// receives, leaving room for n more.
func (k Keys) scriptArgs(n int) []string {
	args := make([]string, 2, 2+n)
	args[0], args[1] = k.JobPrefix, k.Events
	return args
}
