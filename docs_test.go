package tally_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"unicode"
)

// TestMarkdownLinks checks that every relative link of the repository's
// own Markdown (the top level and docs/) resolves in a clone: the file
// exists inside the repository, and an #anchor names a heading of it, as
// GitHub makes anchors. A link out of the repository (../) fails even when
// the file happens to exist beside this checkout.
func TestMarkdownLinks(t *testing.T) {
	root, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob("*.md")
	if err != nil {
		t.Fatal(err)
	}
	docs, err := filepath.Glob(filepath.Join("docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	files = append(files, docs...)
	if len(files) < 2 {
		t.Fatalf("found only %v", files)
	}
	anchorCache := map[string]map[string]bool{}
	anchorsOf := func(name string) map[string]bool {
		if a, ok := anchorCache[name]; ok {
			return a
		}
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		a := headingAnchors(string(b))
		anchorCache[name] = a
		return a
	}
	checked := 0
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range markdownLinks(string(b)) {
			target := l.target
			if i := strings.IndexAny(target, ":"); i > 0 && !strings.ContainsAny(target[:i], "/#") {
				continue // a scheme: http:, https:, mailto:
			}
			checked++
			path, anchor, _ := strings.Cut(target, "#")
			dest := file
			if path != "" {
				dest = filepath.Join(filepath.Dir(file), filepath.FromSlash(path))
				abs, err := filepath.Abs(dest)
				if err != nil {
					t.Fatal(err)
				}
				if rel, err := filepath.Rel(root, abs); err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
					t.Errorf("%s:%d: link %q leaves the repository: it is broken in a clone", file, l.line, target)
					continue
				}
				if _, err := os.Stat(dest); err != nil {
					t.Errorf("%s:%d: link %q: no such file", file, l.line, target)
					continue
				}
			}
			if anchor == "" {
				continue
			}
			if !strings.HasSuffix(dest, ".md") {
				t.Errorf("%s:%d: link %q: an anchor into a file that is not Markdown", file, l.line, target)
				continue
			}
			if !anchorsOf(dest)[anchor] {
				t.Errorf("%s:%d: link %q: %s has no heading with anchor #%s", file, l.line, target, dest, anchor)
			}
		}
	}
	if checked == 0 {
		t.Error("no relative link found: the parser is broken")
	}
}

type mdLink struct {
	target string
	line   int
}

var (
	inlineLink = regexp.MustCompile(`\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)`)
	refLink    = regexp.MustCompile(`^\s{0,3}\[[^\]]+\]:\s*<?([^\s>]+)>?`)
	codeSpan   = regexp.MustCompile("`+[^`]*`+")
	// headingLink is a link in a heading, whose anchor keeps the text.
	headingLink = regexp.MustCompile(`\[([^\]]*)\]\([^)]*\)`)
)

// proseLines yields the lines of a Markdown text outside fenced code
// blocks, with their 0-based line numbers.
func proseLines(text string) func(yield func(int, string) bool) {
	return func(yield func(int, string) bool) {
		fence := ""
		for i, line := range strings.Split(text, "\n") {
			trimmed := strings.TrimSpace(line)
			switch {
			case fence != "":
				if strings.HasPrefix(trimmed, fence) {
					fence = ""
				}
			case strings.HasPrefix(trimmed, "```") || strings.HasPrefix(trimmed, "~~~"):
				fence = trimmed[:3]
			default:
				if !yield(i, line) {
					return
				}
			}
		}
	}
}

// markdownLinks returns the targets of the inline links, images and link
// reference definitions of a Markdown text, outside code blocks and code
// spans.
func markdownLinks(text string) []mdLink {
	var links []mdLink
	for i, line := range proseLines(text) {
		// Code spans go, but a link whose text is code stays a link: the
		// span is replaced by a placeholder, not removed with its brackets.
		line = codeSpan.ReplaceAllString(line, "code")
		for _, m := range inlineLink.FindAllStringSubmatch(line, -1) {
			links = append(links, mdLink{m[1], i + 1})
		}
		if m := refLink.FindStringSubmatch(line); m != nil {
			links = append(links, mdLink{m[1], i + 1})
		}
	}
	return links
}

// headingAnchors returns the anchors GitHub gives the ATX headings of a
// Markdown text: the heading's text without its Markdown, lower-cased,
// with every character other than letters, digits, spaces, '-' and '_'
// dropped and spaces turned into '-'; a repeated anchor gets -1, -2, ….
func headingAnchors(text string) map[string]bool {
	anchors := map[string]bool{}
	seen := map[string]int{}
	for _, line := range proseLines(text) {
		if !strings.HasPrefix(line, "#") {
			continue
		}
		title := strings.TrimLeft(line, "#")
		if len(line)-len(title) > 6 || (title != "" && title[0] != ' ' && title[0] != '\t') {
			continue
		}
		title = strings.TrimSpace(strings.TrimRight(strings.TrimSpace(title), "#"))
		// Links keep their text.
		title = headingLink.ReplaceAllString(title, "$1")
		var b strings.Builder
		for _, r := range strings.ToLower(title) {
			switch {
			case r == ' ':
				b.WriteByte('-')
			case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.IsMark(r):
				b.WriteRune(r)
			}
		}
		anchor := b.String()
		if n := seen[anchor]; n > 0 {
			seen[anchor]++
			anchor += "-" + strconv.Itoa(n)
		} else {
			seen[anchor] = 1
		}
		anchors[anchor] = true
	}
	return anchors
}

func TestHeadingAnchors(t *testing.T) {
	got := headingAnchors("# Tally\n## `GET /report`: the aggregated report\n```\n# not a heading\n```\n" +
		"### Exact numbers: values are decimals\n## Content negotiation (all endpoints)\n## Tally\n#NoSpace\n")
	for _, want := range []string{"tally", "get-report-the-aggregated-report", "exact-numbers-values-are-decimals",
		"content-negotiation-all-endpoints", "tally-1"} {
		if !got[want] {
			t.Errorf("no anchor %q in %v", want, got)
		}
	}
	if got["not-a-heading"] || got["nospace"] {
		t.Errorf("anchors from code or a non-heading: %v", got)
	}
}
