package main

import (
	"strings"
	"testing"
)

func TestThousands(t *testing.T) {
	for n, want := range map[int64]string{0: "0", 999: "999", 1000: "1,000", 12000: "12,000", 1234567: "1,234,567", -4500: "-4,500"} {
		if got := thousands(n); got != want {
			t.Errorf("thousands(%d) = %q, want %q", n, got, want)
		}
	}
	if got := listFooter("dead", 11_950, 50, 12_000); got != "11,951–12,000 of 12,000 dead jobs" {
		t.Errorf("listFooter: %q", got)
	}
	if got := listFooter("dead", 0, 50, 12_000); got != "50 of 12,000 dead jobs; -offset 50 for the next" {
		t.Errorf("listFooter: %q", got)
	}
	if got := listFooter("pending", 1, 1, 3); got != "job 2 of 3 pending jobs; -offset 2 for the next" {
		t.Errorf("listFooter: %q", got)
	}
}

// TestWriteTable checks how a table fits its width: clipped columns
// shrink first, droppable ones go next, wrapped ones shrink last and keep
// every character.
func TestWriteTable(t *testing.T) {
	cols := []column{{header: "ID", min: 6}, {header: "N"}, {header: "NOTE", min: 6, clip: true, drop: 1}}
	rows := [][]string{{"abcdefghij", "1", "a long note that will not fit"}}
	var b strings.Builder
	writeTable(&b, 30, cols, rows)
	if want := "ID          N  NOTE\nabcdefghij  1  a long note th…\n"; b.String() != want {
		t.Errorf("clipped:\n%s\nwant:\n%s", b.String(), want)
	}
	b.Reset()
	writeTable(&b, 16, cols, rows)
	if want := "ID          N\nabcdefghij  1\n"; b.String() != want {
		t.Errorf("dropped:\n%s\nwant:\n%s", b.String(), want)
	}
	b.Reset()
	writeTable(&b, 9, cols, rows)
	if want := "ID      N\nabcdef  1\nghij\n"; b.String() != want {
		t.Errorf("wrapped:\n%s\nwant:\n%s", b.String(), want)
	}
	if got := wrapTo("one two three", 7); strings.Join(got, "|") != "one two|three" {
		t.Errorf("wrapTo at a space: %q", got)
	}
}
