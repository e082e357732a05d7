package redisq

// Keys are the Redis keys of one queue. They are built here and nowhere
// else.
type Keys struct {
	Pending    string
	Processing string
	Scheduled  string
	Completed  string
	Dead       string
	Stats      string
	Marker     string
	// Events is the PUBLISH channel of the queue.
	Events string
	// JobPrefix followed by a job id is the key of the job's hash.
	JobPrefix string
	// RequestPrefix followed by a request id is the key of the call's
	// request record, which answers a repeat of the call.
	RequestPrefix string
}

// KeysFor returns the keys of queue, which must already be a valid queue
// name (backend.ValidateQueueName).
func KeysFor(queue string) Keys {
	p := "queue:{" + queue + "}:"
	return Keys{
		Pending:       p + "pending",
		Processing:    p + "processing",
		Scheduled:     p + "scheduled",
		Completed:     p + "completed",
		Dead:          p + "dead",
		Stats:         p + "stats",
		Marker:        p + "marker",
		Events:        p + "events",
		JobPrefix:     p + "job:",
		RequestPrefix: p + "req:",
	}
}

// Job returns the key of one job's hash.
func (k Keys) Job(id string) string { return k.JobPrefix + id }

// Request returns the key of the request record of the call whose request
// id is id.
func (k Keys) Request(id string) string { return k.RequestPrefix + id }

// scriptKeys is the KEYS array every script receives, in the order lib.lua
// documents, with the request record of a call made with requestID last.
func (k Keys) scriptKeys(requestID string) []string {
	keys := []string{k.Pending, k.Processing, k.Scheduled, k.Completed, k.Dead, k.Stats, k.Marker, ""}
	if requestID == "" {
		return keys[:7]
	}
	keys[7] = k.Request(requestID)
	return keys
}

// scriptArgs starts an ARGV array with the two arguments every script
// receives, leaving room for n more.
func (k Keys) scriptArgs(n int) []string {
	args := make([]string, 2, 2+n)
	args[0], args[1] = k.JobPrefix, k.Events
	return args
}
