package memory

import "container/heap"

// timeHeap orders jobs by their due time, ties broken by the order in which
// they entered the heap, so jobs due at the same instant keep FIFO order. A
// job sits in at most one heap at a time (scheduled, processing or expiring,
// which match mutually exclusive states), so one index field per job is
// enough to remove or fix it in O(log n).
type timeHeap []*job

func (h timeHeap) Len() int { return len(h) }

func (h timeHeap) Less(i, k int) bool { return h[i].before(h[k]) }

func (h timeHeap) Swap(i, k int) {
	h[i], h[k] = h[k], h[i]
	h[i].hidx = i
	h[k].hidx = k
}

func (h *timeHeap) Push(x any) {
	j := x.(*job)
	j.hidx = len(*h)
	*h = append(*h, j)
}

func (h *timeHeap) Pop() any {
	old := *h
	n := len(old) - 1
	j := old[n]
	old[n] = nil
	*h = old[:n]
	j.hidx = -1
	return j
}

// peek returns the job due first, or nil.
func (h timeHeap) peek() *job {
	if len(h) == 0 {
		return nil
	}
	return h[0]
}

// window returns the ids of the jobs ranked offset to offset+limit-1 in due
// order without copying or disturbing the heap: a second, small heap holds
// the frontier of the walk, so the cost is O((offset+limit) log(offset+limit))
// whatever the heap's size.
func (h timeHeap) window(offset, limit int) []string {
	out := make([]string, 0, min(limit, max(len(h)-offset, 0)))
	if offset >= len(h) {
		return out
	}
	f := frontier{h: h, idx: []int{0}}
	for rank := 0; f.Len() > 0 && len(out) < limit; rank++ {
		i := heap.Pop(&f).(int)
		if rank >= offset {
			out = append(out, h[i].id)
		}
		for _, c := range [2]int{2*i + 1, 2*i + 2} {
			if c < len(h) {
				heap.Push(&f, c)
			}
		}
	}
	return out
}

// frontier is a heap of indexes into a timeHeap, ordered like the jobs they
// point to.
type frontier struct {
	h   timeHeap
	idx []int
}

func (f *frontier) Len() int           { return len(f.idx) }
func (f *frontier) Less(a, b int) bool { return f.h[f.idx[a]].before(f.h[f.idx[b]]) }
func (f *frontier) Swap(a, b int)      { f.idx[a], f.idx[b] = f.idx[b], f.idx[a] }
func (f *frontier) Push(x any)         { f.idx = append(f.idx, x.(int)) }
func (f *frontier) Pop() any {
	n := len(f.idx) - 1
	i := f.idx[n]
	f.idx = f.idx[:n]
	return i
}
