// Package output renders what paasctl prints: tables for people, JSON or
// YAML for scripts, ages, and colours (only on a terminal).
package output

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// Format is an -o value.
type Format string

// The formats.
const (
	FormatTable Format = "table"
	FormatJSON  Format = "json"
	FormatYAML  Format = "yaml"
)

// ParseFormat checks an -o value.
func ParseFormat(s string) (Format, error) {
	switch Format(strings.ToLower(s)) {
	case "", FormatTable:
		return FormatTable, nil
	case FormatJSON:
		return FormatJSON, nil
	case FormatYAML, "yml":
		return FormatYAML, nil
	}
	return "", fmt.Errorf("unknown output format %q: use table, json or yaml", s)
}

// Colors paints text with ANSI colours when enabled.
type Colors struct{ Enabled bool }

const (
	reset  = "\x1b[0m"
	red    = "\x1b[31m"
	green  = "\x1b[32m"
	yellow = "\x1b[33m"
	bold   = "\x1b[1m"
	faint  = "\x1b[2m"
)

func (c Colors) paint(code, s string) string {
	if !c.Enabled || s == "" {
		return s
	}
	return code + s + reset
}

// Red paints s red.
func (c Colors) Red(s string) string { return c.paint(red, s) }

// Green paints s green.
func (c Colors) Green(s string) string { return c.paint(green, s) }

// Yellow paints s yellow.
func (c Colors) Yellow(s string) string { return c.paint(yellow, s) }

// Bold makes s bold.
func (c Colors) Bold(s string) string { return c.paint(bold, s) }

// Faint dims s.
func (c Colors) Faint(s string) string { return c.paint(faint, s) }

// Phase colours an app phase: Running green, failures red, transitions yellow.
func (c Colors) Phase(phase string) string {
	switch phase {
	case "Running", "Ready", "deployed", "True":
		return c.Green(phase)
	case "Failed", "Degraded", "failed", "Deleted", "Warning", "rolled_back":
		return c.Red(phase)
	case "Stopped", "Suspended", "superseded":
		return c.Faint(phase)
	case "":
		return phase
	}
	return c.Yellow(phase)
}

// Write prints v as JSON (indented) or YAML with the API's snake_case keys.
func Write(w io.Writer, f Format, v any) error {
	switch f {
	case FormatJSON:
		enc := json.NewEncoder(w)
		enc.SetEscapeHTML(false)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	case FormatYAML:
		b, err := ToYAML(v)
		if err != nil {
			return err
		}
		_, err = w.Write(b)
		return err
	}
	return fmt.Errorf("format %q cannot print objects", f)
}

// WriteLine prints v as one line of JSON (for streams: one object per line).
func WriteLine(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// ToYAML renders v through its JSON form, so field names and omissions are
// exactly the API's.
func ToYAML(v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var generic any
	if err := dec.Decode(&generic); err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(numbers(generic)); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// numbers turns json.Numbers into ints or floats so YAML prints them bare.
func numbers(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = numbers(e)
		}
		return x
	case []any:
		for i, e := range x {
			x[i] = numbers(e)
		}
		return x
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return i
		}
		if f, err := x.Float64(); err == nil {
			return f
		}
		return x.String()
	}
	return v
}

// Age renders how long ago t was, as kubectl does: 45s, 12m, 5h, 3d, 2y.
func Age(t time.Time, now time.Time) string {
	if t.IsZero() {
		return "<unknown>"
	}
	d := now.Sub(t)
	if d < 0 {
		d = 0
	}
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < 10*time.Minute:
		m := int(d.Minutes())
		s := int(d.Seconds()) % 60
		if s == 0 {
			return fmt.Sprintf("%dm", m)
		}
		return fmt.Sprintf("%dm%ds", m, s)
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		h := int(d.Hours())
		m := int(d.Minutes()) % 60
		if h < 8 && m != 0 {
			return fmt.Sprintf("%dh%dm", h, m)
		}
		return fmt.Sprintf("%dh", h)
	case d < 365*24*time.Hour:
		return fmt.Sprintf("%dd", int(d.Hours()/24))
	}
	return fmt.Sprintf("%dy", int(d.Hours()/24/365))
}

// Table is a column-aligned table; cells may carry ANSI colours, which do
// not count toward widths.
type Table struct {
	header []string
	rows   [][]string
}

// NewTable starts a table with a header row.
func NewTable(header ...string) *Table { return &Table{header: header} }

// Row adds a row; missing cells are empty.
func (t *Table) Row(cells ...string) { t.rows = append(t.rows, cells) }

// Rows returns the rows added so far.
func (t *Table) Rows() [][]string { return t.rows }

// Len is the number of rows.
func (t *Table) Len() int { return len(t.rows) }

// Write prints the table with three spaces between columns; the last
// column is not padded.
func (t *Table) Write(w io.Writer) error {
	widths := make([]int, len(t.header))
	all := append([][]string{t.header}, t.rows...)
	for _, r := range all {
		for i := range widths {
			if i < len(r) {
				widths[i] = max(widths[i], VisibleWidth(r[i]))
			}
		}
	}
	var b strings.Builder
	for _, r := range all {
		b.WriteString(FormatRow(widths, r))
		b.WriteByte('\n')
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// Widths returns the column widths the table would use, so streaming
// output (get -w) can keep later rows aligned with the first.
func (t *Table) Widths() []int {
	widths := make([]int, len(t.header))
	for _, r := range append([][]string{t.header}, t.rows...) {
		for i := range widths {
			if i < len(r) {
				widths[i] = max(widths[i], VisibleWidth(r[i]))
			}
		}
	}
	return widths
}

// FormatRow pads cells to widths (three spaces apart, last unpadded).
func FormatRow(widths []int, cells []string) string {
	var b strings.Builder
	for i := range widths {
		cell := ""
		if i < len(cells) {
			cell = cells[i]
		}
		b.WriteString(cell)
		if i < len(widths)-1 {
			b.WriteString(strings.Repeat(" ", max(widths[i]-VisibleWidth(cell), 0)+3))
		}
	}
	return strings.TrimRight(b.String(), " ")
}

// VisibleWidth counts the runes of s that show, skipping ANSI escapes.
func VisibleWidth(s string) int {
	n := 0
	for i := 0; i < len(s); {
		if s[i] == 0x1b && i+1 < len(s) && s[i+1] == '[' {
			j := i + 2
			for j < len(s) && (s[j] < 0x40 || s[j] > 0x7e) {
				j++
			}
			i = j + 1
			continue
		}
		_, size := utf8.DecodeRuneInString(s[i:])
		i += size
		n++
	}
	return n
}

// Truncate shortens s to at most n visible runes, ending with "…".
func Truncate(s string, n int) string {
	if n <= 0 || utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

// OneLine collapses whitespace (newlines included) to single spaces.
func OneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
