package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"
)

// demoKinds are the kinds of job the dashboard enqueues.
var demoKinds = []string{"email", "webhook", "thumbnail", "invoice"}

// demoPayload is the part of a demo job's payload every kind shares.
type demoPayload struct {
	Kind      string `json:"kind"`
	Recipient string `json:"recipient"`
}

// demoFields reads the kind and recipient of a demo payload from its
// first bytes, which may be cut anywhere: what the fields before the cut
// hold. json.Marshal writes a map's keys in order, and those of the
// demo's payloads that come before recipient are short, so a list's
// preview (listPreviewBytes) holds both.
func demoFields(b []byte) demoPayload {
	var p demoPayload
	d := json.NewDecoder(bytes.NewReader(b))
	if t, err := d.Token(); err != nil || t != json.Delim('{') {
		return p
	}
	for d.More() {
		t, err := d.Token()
		key, ok := t.(string)
		var v json.RawMessage
		if err != nil || !ok || d.Decode(&v) != nil {
			break // the cut, or no JSON object
		}
		switch key {
		case "kind":
			_ = json.Unmarshal(v, &p.Kind) // a kind that is no string is none
		case "recipient":
			_ = json.Unmarshal(v, &p.Recipient)
		}
	}
	return p
}

// newDemoPayload makes a plausible payload of the given kind. An empty
// recipient gets an invented one, different for each job of a batch.
func newDemoPayload(kind, recipient string) map[string]any {
	n := 1000 + rand.N(9000)
	p := map[string]any{"kind": kind}
	switch kind {
	case "email":
		p["recipient"] = orDefault(recipient, fmt.Sprintf("user%d@example.com", n))
		p["subject"] = pick("Welcome aboard", "Your weekly digest", "Password reset", "Your order has shipped")
		p["template"] = pick("welcome", "digest", "reset", "shipping")
	case "webhook":
		p["recipient"] = orDefault(recipient, fmt.Sprintf("https://hooks.example.com/h/%d", n))
		p["event"] = pick("order.created", "order.paid", "user.signed_up", "invoice.sent")
		p["attempt_timeout_ms"] = 3000
	case "thumbnail":
		p["recipient"] = orDefault(recipient, fmt.Sprintf("uploads/photo-%d.jpg", n))
		p["sizes"] = []int{64, 256, 1024}
	case "invoice":
		p["recipient"] = orDefault(recipient, fmt.Sprintf("customer-%d", n))
		p["amount_cents"] = 500 + rand.N(200_000)
		p["currency"] = pick("EUR", "USD", "GBP")
	}
	return p
}

// demoResult is what a mock worker stores when it completes a job.
func demoResult(p demoPayload, started time.Time) map[string]any {
	r := map[string]any{"worked_ms": time.Since(started).Milliseconds()}
	switch p.Kind {
	case "email":
		r["message_id"] = fmt.Sprintf("<%08x@mail.example.com>", rand.Uint32())
		r["delivered_to"] = p.Recipient
	case "webhook":
		r["http_status"] = pick(200, 200, 202, 204)
	case "thumbnail":
		base := strings.TrimSuffix(p.Recipient, ".jpg")
		r["thumbnails"] = []string{base + "_64.jpg", base + "_256.jpg", base + "_1024.jpg"}
		r["bytes"] = 20_000 + rand.N(400_000)
	case "invoice":
		r["invoice_no"] = fmt.Sprintf("INV-%d-%05d", time.Now().Year(), rand.N(100_000))
	}
	return r
}

func pick[T any](vs ...T) T { return vs[rand.N(len(vs))] }
