package v1

import (
	"context"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/skypanel/paas/api/problem"
)

// Limits of one dotenv import, beyond the request body limit and the
// variable limits every env write has (maxEnvVars, maxEnvValueLen). They
// keep a parse's work proportional to what it may store: a body of
// newlines is refused before it is read, and a value stops being read once
// it is over its limit.
const (
	// maxDotenvLines bounds the physical lines of an import, comments and
	// blank lines (and the lines of quoted values) included.
	maxDotenvLines = 10000
	// maxDotenvErrors is how many syntax errors are collected before
	// the parse gives up: enough to fix a file, too few to flood an answer.
	maxDotenvErrors = 50
	// dotenvCheckEvery is how many entries are read between checks of the
	// request's context.
	dotenvCheckEvery = 64
)

// parseDotenv reads dotenv text: KEY=value lines, `export ` prefixes,
// # comments, blank lines, "double quoted" values with \n \r \t \" \\ \$ \`
// escapes (which may span lines), 'single quoted' literal values, and
// unquoted values whose trailing ` # comment` is dropped.
//
// It reads the text once, front to back, so its work is linear in the
// text's length whatever the text holds. It refuses text over
// maxDotenvLines lines before reading it, stops at the first variable over
// maxEnvVars or value over maxEnvValueLen bytes, and stops after
// maxDotenvErrors syntax errors. Field errors name the line ("line 3").
// The error is ctx's, when it ends first.
func parseDotenv(ctx context.Context, text string) (map[string]string, []problem.FieldError, error) {
	if !utf8.ValidString(text) {
		return nil, []problem.FieldError{fe("(body)", "must be UTF-8 text")}, nil
	}
	if n := countLines(text); n > maxDotenvLines {
		return nil, []problem.FieldError{fe("(body)", fmt.Sprintf("must be at most %d lines, not %d", maxDotenvLines, n))}, nil
	}
	p := dotenvParser{src: strings.ReplaceAll(text, "\r\n", "\n"), line: 1, vars: map[string]string{}}
	for n := 0; !p.done(); n++ {
		if n%dotenvCheckEvery == 0 {
			if err := ctx.Err(); err != nil {
				return nil, nil, err
			}
		}
		p.entry()
	}
	return p.vars, p.errs, nil
}

// countLines counts lines as an editor shows them: a last line without a
// newline counts, an empty text has none.
func countLines(s string) int {
	n := strings.Count(s, "\n")
	if s != "" && !strings.HasSuffix(s, "\n") {
		n++
	}
	return n
}

// dotenvParser is the state of one forward pass over dotenv text.
type dotenvParser struct {
	src  string // the text, CRLF folded to LF
	pos  int    // where the next entry starts: the start of a line
	line int    // the line number of pos, from 1
	vars map[string]string
	errs []problem.FieldError
	stop bool // a limit was reached: the rest is not read
}

func (p *dotenvParser) done() bool {
	return p.stop || p.pos >= len(p.src) || len(p.errs) >= maxDotenvErrors
}

// fail records a syntax error of the entry starting on line no.
func (p *dotenvParser) fail(no int, msg string) {
	p.errs = append(p.errs, fe(fmt.Sprintf("line %d", no), msg))
}

// halt records an error after which the rest of the text is not read.
func (p *dotenvParser) halt(no int, msg string) {
	p.fail(no, msg)
	p.stop = true
}

// lineEnd is the offset of the newline ending the line that holds offset
// from, or the text's length.
func (p *dotenvParser) lineEnd(from int) int {
	if i := strings.IndexByte(p.src[from:], '\n'); i >= 0 {
		return from + i
	}
	return len(p.src)
}

// next moves pos past the newline at end (or to the end of the text),
// counting the lines it passes.
func (p *dotenvParser) next(end int) {
	p.line += strings.Count(p.src[p.pos:end], "\n")
	p.pos = end
	if p.pos < len(p.src) {
		p.pos++
		p.line++
	}
}

// entry reads the line at pos: a variable (whose double-quoted value may
// run over more lines), a comment or a blank line; pos ends at the start of
// the next line.
func (p *dotenvParser) entry() {
	no, end := p.line, p.lineEnd(p.pos)
	raw := p.src[p.pos:end]
	s := strings.TrimSpace(raw)
	if s == "" || s[0] == '#' {
		p.next(end)
		return
	}
	// s is raw without the spaces around it, so a suffix r of s starts
	// at offset rightEdge-len(r) of the text.
	rightEdge := end - (len(raw) - len(strings.TrimRightFunc(raw, unicode.IsSpace)))
	key, rest, ok := strings.Cut(strings.TrimPrefix(s, "export "), "=")
	key = strings.TrimSpace(key)
	if !ok || key == "" {
		p.fail(no, "expected KEY=value")
		p.next(end)
		return
	}
	rest = strings.TrimLeft(rest, " \t")
	var value, tail string
	switch {
	case strings.HasPrefix(rest, `"`):
		v, after, ok := p.doubleQuoted(no, rightEdge-len(rest)+1)
		if !ok {
			return // halted
		}
		end = p.lineEnd(after)
		value, tail = v, p.src[after:end]
	case strings.HasPrefix(rest, "'"):
		v, t, closed := strings.Cut(rest[1:], "'")
		if !closed {
			p.fail(no, "unterminated single quote")
			p.next(end)
			return
		}
		value, tail = v, t
	default:
		if i := strings.Index(rest, " #"); i >= 0 {
			rest = rest[:i]
		}
		value = strings.TrimSpace(rest)
	}
	p.next(end)
	if t := strings.TrimSpace(tail); t != "" && t[0] != '#' {
		p.fail(no, "unexpected text after the closing quote")
	}
	p.set(no, key, value)
}

// set records a variable read from line no.
func (p *dotenvParser) set(no int, key, value string) {
	if len(value) > maxEnvValueLen {
		p.halt(no, tooLongValue())
		return
	}
	if _, dup := p.vars[key]; dup {
		p.fail(no, fmt.Sprintf("%s is set twice", key))
	} else if len(p.vars) == maxEnvVars {
		p.halt(no, fmt.Sprintf("more than %d variables", maxEnvVars))
		return
	}
	p.vars[key] = value
}

func tooLongValue() string {
	return fmt.Sprintf("value must be at most %d bytes", maxEnvValueLen)
}

// doubleQuoted reads the body of a double-quoted value starting at offset
// from, which may run over lines, up to its closing quote; after is the
// offset past that quote. It halts the parse (ok false) when the text ends
// before the quote or the value grows over maxEnvValueLen, so it reads at
// most about twice that many bytes.
func (p *dotenvParser) doubleQuoted(no, from int) (value string, after int, ok bool) {
	var b strings.Builder
	s := p.src
	for i := from; i < len(s); i++ {
		if b.Len() > maxEnvValueLen {
			p.halt(no, tooLongValue())
			return "", 0, false
		}
		switch ch := s[i]; ch {
		case '"':
			return b.String(), i + 1, true
		case '\\':
			if i+1 == len(s) {
				b.WriteByte(ch)
				continue
			}
			i++
			switch s[i] {
			case 'n':
				b.WriteByte('\n')
			case 'r':
				b.WriteByte('\r')
			case 't':
				b.WriteByte('\t')
			case '"', '\\', '$', '`':
				b.WriteByte(s[i])
			default:
				b.WriteByte('\\')
				b.WriteByte(s[i])
			}
		default:
			b.WriteByte(ch)
		}
	}
	p.halt(no, "unterminated double quote")
	return "", 0, false
}

// formatDotenv writes KEY="value" lines, sorted, that parseDotenv reads back
// to the same values.
func formatDotenv(env map[string]string) string {
	var b strings.Builder
	for _, k := range sortedKeys(env) {
		b.WriteString(k)
		b.WriteString(`="`)
		for _, r := range env[k] {
			switch r {
			case '\n':
				b.WriteString(`\n`)
			case '\r':
				b.WriteString(`\r`)
			case '\t':
				b.WriteString(`\t`)
			case '"', '\\', '$', '`':
				b.WriteByte('\\')
				b.WriteRune(r)
			default:
				b.WriteRune(r)
			}
		}
		b.WriteString("\"\n")
	}
	return b.String()
}
