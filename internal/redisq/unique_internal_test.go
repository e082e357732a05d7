package redisq

import (
	"errors"
	"testing"
	"time"

	"github.com/jobqueue-go/jobqueue/backend"
)

// callOf returns an enqueueCall of jobs as Enqueue builds it.
func callOf(jobs ...backend.NewJob) *enqueueCall {
	c := &enqueueCall{jobs: []string{"0"}}
	for _, j := range jobs {
		c.jobs = append(c.jobs, j.ID, "{}", "1", "0", "0", "", "", "0", "0", uniqueArg(j.Unique))
	}
	return c
}

func TestUniqueArg(t *testing.T) {
	for want, u := range map[string]backend.Unique{
		"":                  {},
		"1500 - a:b":        {Key: "a:b", Window: 1500 * time.Millisecond},
		"60000 c k":         {Key: "k", Window: time.Minute, ReleaseOn: []backend.State{backend.StateCompleted}},
		"60000 d k":         {Key: "k", Window: time.Minute, ReleaseOn: []backend.State{backend.StateDead}},
		"60000 cd {x}:y-~z": {Key: "{x}:y-~z", Window: time.Minute, ReleaseOn: []backend.State{backend.StateDead, backend.StateCompleted}},
	} {
		if got := uniqueArg(u); got != want {
			t.Errorf("uniqueArg(%+v) = %q, want %q", u, got, want)
		}
	}
}

func TestDecodeEnqueueDuplicate(t *testing.T) {
	c := callOf(backend.NewJob{ID: "a", Unique: backend.Unique{Key: "ka", Window: time.Second}},
		backend.NewJob{ID: "b"},
		backend.NewJob{ID: "c", Unique: backend.Unique{Key: "k c:{}", Window: time.Second}})
	other := callOf(backend.NewJob{ID: "d"})
	errs, err := decodeEnqueue([]any{"DUPLICATE 0 x 2 y", int64(1)}, "q", []*enqueueCall{c, other})
	if err != nil {
		t.Fatal(err)
	}
	var de *backend.DuplicateError
	if !errors.As(errs[0], &de) || !errors.Is(errs[0], backend.ErrDuplicate) {
		t.Fatalf("the error of a DUPLICATE reply: %v", errs[0])
	}
	want := []backend.Duplicate{{Index: 0, Key: "ka", ExistingID: "x"}, {Index: 2, Key: "k c:{}", ExistingID: "y"}}
	if de.Queue != "q" || len(de.Duplicates) != 2 || de.Duplicates[0] != want[0] || de.Duplicates[1] != want[1] {
		t.Errorf("got %+v, want %+v", de, want)
	}
	if errs[1] != nil {
		t.Errorf("the other call's outcome: %v", errs[1])
	}
	for _, bad := range []string{"DUPLICATE ", "DUPLICATE 0", "DUPLICATE 3 x", "DUPLICATE -1 x", "DUPLICATE z x", "DUPLICATE 0 x 1"} {
		if _, err := decodeEnqueue([]any{bad}, "q", []*enqueueCall{c}); err == nil {
			t.Errorf("decodeEnqueue accepted %q", bad)
		}
	}
}
