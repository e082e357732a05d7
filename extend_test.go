package jobqueue

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/jobqueue-go/jobqueue/memory"
)

// TestCallBackendRepeatsAsTheQueueDoes checks that CallBackend repeats a
// call that fails as unavailable up to the queue's retries, and no other.
func TestCallBackendRepeatsAsTheQueueDoes(t *testing.T) {
	q, err := New(memory.New(), "callbackend", WithRetries(2))
	require.NoError(t, err)
	ctx := context.Background()
	calls := 0
	err = q.CallBackend(ctx, func() error { calls++; return ErrUnavailable })
	assert.ErrorIs(t, err, ErrUnavailable)
	assert.Equal(t, 3, calls, "the call and two repeats")

	calls = 0
	err = q.CallBackend(ctx, func() error {
		calls++
		if calls == 1 {
			return ErrUnavailable
		}
		return nil
	})
	assert.NoError(t, err)
	assert.Equal(t, 2, calls)

	calls = 0
	other := errors.New("refused")
	assert.ErrorIs(t, q.CallBackend(ctx, func() error { calls++; return other }), other)
	assert.Equal(t, 1, calls, "an error other than unavailability is not repeated")
}

func TestEncodePayload(t *testing.T) {
	q, err := New(memory.New(), "encode", WithPayloadLimit(16))
	require.NoError(t, err)
	b, err := q.EncodePayload(map[string]int{"n": 1})
	require.NoError(t, err)
	assert.JSONEq(t, `{"n":1}`, string(b))
	b, err = q.EncodePayload([]byte(`[1,2]`))
	require.NoError(t, err)
	assert.Equal(t, json.RawMessage(`[1,2]`), b, "JSON bytes are taken as is")
	_, err = q.EncodePayload(func() {})
	assert.ErrorIs(t, err, ErrInvalidArgument)
	_, err = q.EncodePayload([]byte(`{`))
	assert.ErrorIs(t, err, ErrInvalidArgument)
	_, err = q.EncodePayload(map[string]string{"s": "more than sixteen bytes"})
	assert.ErrorIs(t, err, ErrPayloadTooLarge)
}

func TestCheckRecurringOptions(t *testing.T) {
	assert.NoError(t, CheckRecurringOptions())
	assert.NoError(t, CheckRecurringOptions(nil, Kind("report"), Priority(2), MaxAttempts(3), Timeout(time.Minute),
		Headers(map[string]string{"tenant": "acme"}), Delay(time.Second), ExpiresIn(time.Hour)))
	for name, o := range map[string]EnqueueOption{
		"WithID":       WithID("x"),
		"At":           At(time.Now()),
		"ExpiresAt":    ExpiresAt(time.Now().Add(time.Hour)),
		"Unique":       Unique("k", time.Hour),
		"bad priority": Priority(-1),
		"bad kind":     Kind("no spaces"),
	} {
		assert.ErrorIs(t, CheckRecurringOptions(Priority(1), o), ErrInvalidArgument, name)
	}
}
