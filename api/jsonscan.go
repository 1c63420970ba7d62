package api

import (
	"fmt"
	"unicode/utf8"
)

// scanner reads JSON (RFC 8259) from a byte slice without building values:
// the event decoder asks it for the tokens it expects, so that decoding and
// validating an event costs no reflection and no maps. encoding/json and
// kin-openapi's map[string]any walk were measured 5-10 times slower (see
// BenchmarkDecodeEvents).
//
// It is stricter than encoding/json in one way: invalid UTF-8 in a string is
// a syntax error, not silently replaced, as RFC 8259 asks for UTF-8.
type scanner struct {
	b   []byte
	i   int
	buf []byte // scratch for strings with escapes
}

// maxDepth bounds the nesting of values the scanner skips, so that a body
// of a million '[' costs neither a deep recursion nor more than a message.
const maxDepth = 64

// syntaxError is malformed JSON at a byte offset of the input.
type syntaxError struct {
	off int
	msg string
}

func (e *syntaxError) Error() string { return fmt.Sprintf("%s at byte offset %d", e.msg, e.off) }

func (s *scanner) errf(format string, args ...any) error {
	return &syntaxError{off: s.i, msg: fmt.Sprintf(format, args...)}
}

// unexpected describes the byte at the current position for a message.
func (s *scanner) unexpected(want string) error {
	if s.i >= len(s.b) {
		return s.errf("unexpected end of input, want %s", want)
	}
	c := s.b[s.i]
	if c >= 0x20 && c < 0x7f {
		return s.errf("unexpected %q, want %s", c, want)
	}
	return s.errf("unexpected byte 0x%02x, want %s", c, want)
}

func (s *scanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// peek returns the next byte, 0 at the end.
func (s *scanner) peek() byte {
	if s.i < len(s.b) {
		return s.b[s.i]
	}
	return 0
}

func (s *scanner) eof() bool { return s.i >= len(s.b) }

// literal consumes true, false or null, whichever starts here.
func (s *scanner) literal() (byte, error) {
	var lit string
	switch s.peek() {
	case 't':
		lit = "true"
	case 'f':
		lit = "false"
	case 'n':
		lit = "null"
	default:
		return 0, s.unexpected("a value")
	}
	if len(s.b)-s.i < len(lit) || string(s.b[s.i:s.i+len(lit)]) != lit {
		return 0, s.unexpected("a value")
	}
	s.i += len(lit)
	return lit[0], nil
}

// str consumes a string and returns its decoded contents, valid until the
// next call.
func (s *scanner) str() ([]byte, error) {
	if s.peek() != '"' {
		return nil, s.unexpected("a string")
	}
	s.i++
	start := s.i
	for s.i < len(s.b) {
		c := s.b[s.i]
		switch {
		case c == '"':
			v := s.b[start:s.i]
			s.i++
			return v, nil
		case c == '\\':
			return s.strEscaped(start)
		case c < 0x20:
			return nil, s.errf("control character in a string")
		case c < utf8.RuneSelf:
			s.i++
		default:
			r, n := utf8.DecodeRune(s.b[s.i:])
			if r == utf8.RuneError && n == 1 {
				return nil, s.errf("invalid UTF-8 in a string")
			}
			s.i += n
		}
	}
	return nil, s.errf("unterminated string")
}

// strEscaped finishes a string that holds escapes, decoding them as
// encoding/json does (a lone surrogate becomes U+FFFD).
func (s *scanner) strEscaped(start int) ([]byte, error) {
	s.buf = append(s.buf[:0], s.b[start:s.i]...)
	for s.i < len(s.b) {
		c := s.b[s.i]
		switch {
		case c == '"':
			s.i++
			return s.buf, nil
		case c == '\\':
			if s.i+1 >= len(s.b) {
				s.i++
				return nil, s.errf("unterminated string")
			}
			e := s.b[s.i+1]
			s.i += 2
			switch e {
			case '"', '\\', '/':
				s.buf = append(s.buf, e)
			case 'b':
				s.buf = append(s.buf, '\b')
			case 'f':
				s.buf = append(s.buf, '\f')
			case 'n':
				s.buf = append(s.buf, '\n')
			case 'r':
				s.buf = append(s.buf, '\r')
			case 't':
				s.buf = append(s.buf, '\t')
			case 'u':
				r, ok := s.hex4()
				if !ok {
					return nil, s.errf("invalid \\u escape")
				}
				if utf16IsHigh(r) && s.i+1 < len(s.b) && s.b[s.i] == '\\' && s.b[s.i+1] == 'u' {
					save := s.i
					s.i += 2
					lo, ok := s.hex4()
					if !ok {
						return nil, s.errf("invalid \\u escape")
					}
					if utf16IsLow(lo) {
						r = 0x10000 + (r-0xd800)<<10 + (lo - 0xdc00)
					} else {
						s.i = save // the next escape stands on its own
						r = utf8.RuneError
					}
				} else if r >= 0xd800 && r < 0xe000 {
					r = utf8.RuneError
				}
				s.buf = utf8.AppendRune(s.buf, r)
			default:
				s.i--
				return nil, s.errf("invalid escape \\%c", e)
			}
		case c < 0x20:
			return nil, s.errf("control character in a string")
		case c < utf8.RuneSelf:
			s.buf = append(s.buf, c)
			s.i++
		default:
			r, n := utf8.DecodeRune(s.b[s.i:])
			if r == utf8.RuneError && n == 1 {
				return nil, s.errf("invalid UTF-8 in a string")
			}
			s.buf = append(s.buf, s.b[s.i:s.i+n]...)
			s.i += n
		}
	}
	return nil, s.errf("unterminated string")
}

func utf16IsHigh(r rune) bool { return r >= 0xd800 && r < 0xdc00 }
func utf16IsLow(r rune) bool  { return r >= 0xdc00 && r < 0xe000 }

func (s *scanner) hex4() (rune, bool) {
	if len(s.b)-s.i < 4 {
		return 0, false
	}
	var r rune
	for _, c := range s.b[s.i : s.i+4] {
		v, ok := hexVal(c)
		if !ok {
			return 0, false
		}
		r = r<<4 | rune(v)
	}
	s.i += 4
	return r, true
}

func hexVal(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// num consumes a number and returns its text.
func (s *scanner) num() ([]byte, error) {
	start := s.i
	if s.peek() == '-' {
		s.i++
	}
	switch c := s.peek(); {
	case c == '0':
		s.i++
	case '1' <= c && c <= '9':
		s.digits()
	default:
		return nil, s.unexpected("a digit")
	}
	if s.peek() == '.' {
		s.i++
		if !isDigit(s.peek()) {
			return nil, s.unexpected("a digit after '.'")
		}
		s.digits()
	}
	if c := s.peek(); c == 'e' || c == 'E' {
		s.i++
		if c := s.peek(); c == '+' || c == '-' {
			s.i++
		}
		if !isDigit(s.peek()) {
			return nil, s.unexpected("a digit in the exponent")
		}
		s.digits()
	}
	return s.b[start:s.i], nil
}

func (s *scanner) digits() {
	for s.i < len(s.b) && isDigit(s.b[s.i]) {
		s.i++
	}
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// skip consumes one value of any kind, checking its syntax.
func (s *scanner) skip(depth int) error {
	switch c := s.peek(); {
	case c == '"':
		_, err := s.str()
		return err
	case c == '-' || isDigit(c):
		_, err := s.num()
		return err
	case c == '{' || c == '[':
		if depth >= maxDepth {
			return s.errf("values nested deeper than %d levels", maxDepth)
		}
		s.i++
		s.ws()
		end := byte('}')
		if c == '[' {
			end = ']'
		}
		if s.peek() == end {
			s.i++
			return nil
		}
		for {
			if c == '{' {
				if _, err := s.str(); err != nil {
					return err
				}
				s.ws()
				if s.peek() != ':' {
					return s.unexpected("':'")
				}
				s.i++
				s.ws()
			}
			if err := s.skip(depth + 1); err != nil {
				return err
			}
			s.ws()
			switch s.peek() {
			case ',':
				s.i++
				s.ws()
			case end:
				s.i++
				return nil
			default:
				return s.unexpected(fmt.Sprintf("',' or '%c'", end))
			}
		}
	default:
		_, err := s.literal()
		return err
	}
}
