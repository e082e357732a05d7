package conformance_test

import (
	"context"
	"errors"
	"slices"
	"sync"

	"github.com/jobqueue-go/jobqueue/backend"
	"github.com/jobqueue-go/jobqueue/memory"
)

// uniqueBroken are the broken backends of unique keys (backend.Unique).
func uniqueBroken() []brokenBackend {
	mem := memory.New
	return []brokenBackend{
		{"unique-ignored", "Unique/", func() backend.Backend {
			return uniqueRewriter{mem(), func(backend.Unique) backend.Unique { return backend.Unique{} }}
		}},
		{"unique-never-released", "Unique/",
			func() backend.Backend {
				return uniqueRewriter{mem(), func(u backend.Unique) backend.Unique { u.ReleaseOn = nil; return u }}
			}},
		{"unique-always-released", "Unique/ReleasedOnFinishWhenAsked/, Unique/Queue/, Unique/HistoryEvictionDoesNotEndWindow",
			func() backend.Backend {
				return uniqueRewriter{mem(), func(u backend.Unique) backend.Unique {
					if u.Key != "" {
						u.ReleaseOn = []backend.State{backend.StateCompleted, backend.StateDead}
					}
					return u
				}}
			}},
		{"unique-wrong-holder", "Unique/", func() backend.Backend { return wrongHolder{mem()} }},
		{"unique-batch-partial", "Unique/BatchAllOrNothing", func() backend.Backend { return partialUnique{mem()} }},
		{"unique-before-repeat", "Unique/, LostReplies/Repeat/EnqueueUnique, LostReplies/LostReply/EnqueueUnique",
			func() backend.Backend { return &keyBeforeRepeat{Backend: mem()} }},
	}
}

// uniqueRewriter stores every job with its Unique changed by edit.
type uniqueRewriter struct {
	*memory.Backend
	edit func(backend.Unique) backend.Unique
}

func (b uniqueRewriter) Enqueue(ctx context.Context, p backend.EnqueueParams) error {
	p.Jobs = slices.Clone(p.Jobs)
	for i := range p.Jobs {
		p.Jobs[i].Unique = b.edit(p.Jobs[i].Unique)
	}
	return b.Backend.Enqueue(ctx, p)
}

// wrongHolder breaks "a *DuplicateError that names the holder": it names
// the refused job instead.
type wrongHolder struct{ *memory.Backend }

func (b wrongHolder) Enqueue(ctx context.Context, p backend.EnqueueParams) error {
	err := b.Backend.Enqueue(ctx, p)
	var de *backend.DuplicateError
	if errors.As(err, &de) {
		for i := range de.Duplicates {
			de.Duplicates[i].ExistingID = p.Jobs[de.Duplicates[i].Index].ID
		}
	}
	return err
}

// partialUnique breaks "either every job is stored or, when ... its unique
// key is held, none is": it stores the jobs whose keys are free.
type partialUnique struct{ *memory.Backend }

func (b partialUnique) Enqueue(ctx context.Context, p backend.EnqueueParams) error {
	err := b.Backend.Enqueue(ctx, p)
	var de *backend.DuplicateError
	if !errors.As(err, &de) {
		return err
	}
	rest := p
	rest.Jobs = nil
	for i, j := range p.Jobs {
		if !slices.ContainsFunc(de.Duplicates, func(d backend.Duplicate) bool { return d.Index == i }) {
			rest.Jobs = append(rest.Jobs, j)
		}
	}
	if len(rest.Jobs) > 0 {
		_ = b.Backend.Enqueue(ctx, rest)
	}
	return err
}

// keyBeforeRepeat breaks "a repeat returns what the first run returned":
// it checks unique keys before it looks for the call's request record, so
// the repeat of a call that stored its job is refused as a duplicate of
// that very job.
type keyBeforeRepeat struct {
	*memory.Backend
	mu   sync.Mutex
	held map[[2]string]string // queue and key -> the id stored with it
}

func (b *keyBeforeRepeat) Enqueue(ctx context.Context, p backend.EnqueueParams) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	var dups []backend.Duplicate
	for i, j := range p.Jobs {
		if id, ok := b.held[[2]string{p.Queue, j.Unique.Key}]; ok && j.Unique.Key != "" {
			dups = append(dups, backend.Duplicate{Index: i, Key: j.Unique.Key, ExistingID: id})
		}
	}
	if dups != nil {
		return &backend.DuplicateError{Queue: p.Queue, Duplicates: dups}
	}
	err := b.Backend.Enqueue(ctx, p)
	if err == nil {
		if b.held == nil {
			b.held = map[[2]string]string{}
		}
		for _, j := range p.Jobs {
			if j.Unique.Key != "" {
				b.held[[2]string{p.Queue, j.Unique.Key}] = j.ID
			}
		}
	}
	return err
}
