package main

import (
	"io"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// defaultWidth is the width tables fit when COLUMNS does not say.
const defaultWidth = 80

// columnGap separates the columns of a table.
const columnGap = 2

// column is one column of a table the command prints.
type column struct {
	header string
	// min is the narrowest the column may become, 0 for its natural
	// width: it never shrinks.
	min int
	// clip cuts a cell too wide for the column to one line ending in "…";
	// otherwise the cell wraps onto more lines, so that nothing of it is
	// lost (an id).
	clip bool
	// drop orders the columns left out when the others do not fit even at
	// their narrowest: the highest first; 0 is never left out.
	drop int
}

// width returns the width the tables of the command fit: COLUMNS, as a
// shell sets it for its terminal, or 80.
func (e *cmdEnv) width() int {
	if n, err := strconv.Atoi(e.getenv("COLUMNS")); err == nil && n >= 40 {
		return n
	}
	return defaultWidth
}

// writeTable writes rows under cols, each line at most width runes when
// the columns' minimums allow it. Columns that clip shrink first; then the
// droppable ones are left out, one at a time; the wrapping ones shrink
// last. A header row is written when a column has a header.
func writeTable(w io.Writer, width int, cols []column, rows [][]string) {
	active := make([]int, len(cols))
	for i := range cols {
		active[i] = i
	}
	var widths []int
	for {
		widths = make([]int, len(active))
		total := columnGap * (len(active) - 1)
		for j, i := range active {
			widths[j] = runes(cols[i].header)
			for _, r := range rows {
				widths[j] = max(widths[j], runes(oneLineCell(r[i])))
			}
			total += widths[j]
		}
		total = shrink(cols, active, widths, total, width, true)
		if total <= width {
			break
		}
		drop := -1
		for j, i := range active {
			if cols[i].drop > 0 && (drop < 0 || cols[i].drop > cols[active[drop]].drop) {
				drop = j
			}
		}
		if drop < 0 {
			shrink(cols, active, widths, total, width, false)
			break
		}
		active = slices.Delete(active, drop, drop+1)
	}

	header := slices.ContainsFunc(cols, func(c column) bool { return c.header != "" })
	if header {
		cells := make([]string, len(cols))
		for i, c := range cols {
			cells[i] = c.header
		}
		writeRow(w, cols, active, widths, cells)
	}
	for _, r := range rows {
		writeRow(w, cols, active, widths, r)
	}
}

// shrink narrows the columns that clip (or else those that wrap), the
// widest first, down to their minimums, until total fits width; it returns
// the new total.
func shrink(cols []column, active, widths []int, total, width int, clip bool) int {
	shrinkable := func(j int) bool {
		c := cols[active[j]]
		return c.clip == clip && c.min > 0 && widths[j] > c.min
	}
	for total > width {
		widest := -1
		for j := range active {
			if shrinkable(j) && (widest < 0 || widths[j] > widths[widest]) {
				widest = j
			}
		}
		if widest < 0 {
			return total
		}
		// Down to the next widest column's width at once (a payload
		// column starts as wide as the widest payload), then one at a
		// time in turn with it.
		floor := cols[active[widest]].min
		for j := range active {
			if j != widest && shrinkable(j) {
				floor = max(floor, widths[j])
			}
		}
		cut := max(widths[widest]-floor, 1)
		cut = min(cut, total-width)
		widths[widest] -= cut
		total -= cut
	}
	return total
}

// writeRow writes one row of cells, which may take several lines.
func writeRow(w io.Writer, cols []column, active, widths []int, cells []string) {
	parts := make([][]string, len(active))
	lines := 1
	for j, i := range active {
		cell := oneLineCell(cells[i])
		if cols[i].clip {
			parts[j] = []string{clipTo(cell, widths[j])}
		} else {
			parts[j] = wrapTo(cell, widths[j])
		}
		lines = max(lines, len(parts[j]))
	}
	var b strings.Builder
	for l := range lines {
		b.Reset()
		for j := range active {
			cell := ""
			if l < len(parts[j]) {
				cell = parts[j][l]
			}
			b.WriteString(cell)
			if j < len(active)-1 {
				b.WriteString(strings.Repeat(" ", widths[j]-runes(cell)+columnGap))
			}
		}
		_, _ = io.WriteString(w, strings.TrimRight(b.String(), " ")+"\n")
	}
}

// oneLineCell returns s with its runs of white space, line ends included,
// made one space.
func oneLineCell(s string) string {
	if !strings.ContainsAny(s, "\t\n\r\v\f") && !strings.Contains(s, "  ") {
		return s
	}
	return strings.Join(strings.Fields(s), " ")
}

// clipTo cuts s to n runes, ending in "…" when it cut.
func clipTo(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	if n < 1 {
		return ""
	}
	return string(r[:n-1]) + "…"
}

// wrapTo breaks s into lines of at most n runes, at the last space that
// fits, or anywhere when none does (an id has none).
func wrapTo(s string, n int) []string {
	r := []rune(s)
	if len(r) <= n || n < 1 {
		return []string{s}
	}
	var lines []string
	for len(r) > n {
		cut := n
		if sp := lastSpace(r[:n+1]); sp > 0 {
			cut = sp
		}
		lines = append(lines, strings.TrimRight(string(r[:cut]), " "))
		r = r[cut:]
		for len(r) > 0 && r[0] == ' ' {
			r = r[1:]
		}
	}
	if len(r) > 0 {
		lines = append(lines, string(r))
	}
	return lines
}

func lastSpace(r []rune) int {
	for i := len(r) - 1; i >= 0; i-- {
		if r[i] == ' ' {
			return i
		}
	}
	return -1
}

func runes(s string) int { return utf8.RuneCountInString(s) }
