package backend

// IDMinter is an optional capability: a Backend that places jobs by their
// ids (shard.Backend stores a job in the shard its id falls on) makes the
// ids of new jobs, so that it can choose where they go. Callers find it by
// type assertion; the root jobqueue.Queue asks it for the id of every job
// that its caller gave none, and makes random ids itself on a backend
// without it.
type IDMinter interface {
	// MintIDs returns one new id per entry of keys, for jobs about to be
	// enqueued together on queue. Each is as ValidateNewID accepts, and
	// at least as unlikely to be made twice as 120 random bits. keys[i] is job i's
	// placement key (its unique key, or the key its caller gave to keep
	// jobs together), or empty: jobs with one key get ids placed
	// together, and so do all the keyless jobs of one call. It does no
	// I/O.
	MintIDs(queue string, keys []string) []string
}
