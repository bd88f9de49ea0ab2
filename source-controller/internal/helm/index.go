// Package helm reads Helm chart repository indexes as a stream and keeps on disk what chart
// lookups need: public indexes run to tens of megabytes, and holding one parsed costs
// gigabytes, so an index is never parsed whole. At most one entry is parsed at a time, and
// one chart's versions (a few fields each) are held while they are written out.
package helm

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"sigs.k8s.io/yaml"
)

// ChartVersion is what a chart lookup needs of one index entry.
type ChartVersion struct {
	Name       string   `json:"name"`
	Version    string   `json:"version"`
	AppVersion string   `json:"appVersion,omitempty"`
	Digest     string   `json:"digest,omitempty"`
	URLs       []string `json:"urls"`
	Created    string   `json:"created,omitempty"`
	Deprecated bool     `json:"deprecated,omitempty"`
}

// Limits of what one index may hold.
const (
	// maxLine bounds one line of a YAML index.
	maxLine = 1 << 20
	// maxEntry bounds the text of one entry (a chart version's metadata).
	maxEntry = 4 << 20
	// maxVersions bounds the versions of one chart.
	maxVersions = 100_000
)

// ErrNotAnIndex marks a document that is not a Helm repository index.
var ErrNotAnIndex = errors.New("not a Helm repository index")

// Scan reads an index (YAML as Helm and ChartMuseum write it, or JSON) and calls fn once per
// chart key with its versions in the index's order.
func Scan(r io.Reader, fn func(name string, versions []ChartVersion) error) error {
	br := bufio.NewReaderSize(r, 64<<10)
	first, err := firstByte(br)
	if err != nil {
		return err
	}
	if first == '{' {
		return scanJSON(br, fn)
	}
	return scanYAML(br, fn)
}

func firstByte(br *bufio.Reader) (byte, error) {
	for {
		b, err := br.Peek(1)
		if err != nil {
			if errors.Is(err, io.EOF) {
				return 0, fmt.Errorf("%w: the document is empty", ErrNotAnIndex)
			}
			return 0, err
		}
		switch b[0] {
		case ' ', '\t', '\r', '\n', 0xEF, 0xBB, 0xBF: // whitespace and a UTF-8 byte order mark
			_, _ = br.ReadByte()
		default:
			return b[0], nil
		}
	}
}

// scanJSON walks {"apiVersion": ..., "entries": {"<chart>": [<entry>, ...]}} token by token,
// decoding one entry at a time.
func scanJSON(br *bufio.Reader, fn func(string, []ChartVersion) error) error {
	dec := json.NewDecoder(br)
	if err := expectDelim(dec, '{'); err != nil {
		return err
	}
	apiVersion := ""
	for dec.More() {
		key, err := stringToken(dec)
		if err != nil {
			return err
		}
		switch key {
		case "apiVersion":
			if err := dec.Decode(&apiVersion); err != nil {
				return fmt.Errorf("%w: apiVersion is not a string", ErrNotAnIndex)
			}
		case "entries":
			if err := expectDelim(dec, '{'); err != nil {
				return err
			}
			for dec.More() {
				name, err := stringToken(dec)
				if err != nil {
					return err
				}
				if err := expectDelim(dec, '['); err != nil {
					return err
				}
				var versions []ChartVersion
				for dec.More() {
					var v ChartVersion
					if err := dec.Decode(&v); err != nil {
						return fmt.Errorf("chart '%s': an entry does not parse: %v", name, err)
					}
					if versions, err = appendVersion(versions, name, v); err != nil {
						return err
					}
				}
				if err := expectDelim(dec, ']'); err != nil {
					return err
				}
				if err := fn(name, versions); err != nil {
					return err
				}
			}
			if err := expectDelim(dec, '}'); err != nil {
				return err
			}
		default:
			var skip json.RawMessage
			if err := dec.Decode(&skip); err != nil {
				return fmt.Errorf("%w: %v", ErrNotAnIndex, err)
			}
		}
	}
	if apiVersion == "" {
		return fmt.Errorf("%w: it has no apiVersion", ErrNotAnIndex)
	}
	return nil
}

func expectDelim(dec *json.Decoder, want json.Delim) error {
	tok, err := dec.Token()
	if err != nil {
		return fmt.Errorf("%w: %v", ErrNotAnIndex, err)
	}
	if d, ok := tok.(json.Delim); !ok || d != want {
		return fmt.Errorf("%w: expected '%c'", ErrNotAnIndex, want)
	}
	return nil
}

func stringToken(dec *json.Decoder) (string, error) {
	tok, err := dec.Token()
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrNotAnIndex, err)
	}
	s, ok := tok.(string)
	if !ok {
		return "", fmt.Errorf("%w: expected a key", ErrNotAnIndex)
	}
	return s, nil
}

// appendVersion checks an entry and adds it to its chart's versions.
func appendVersion(versions []ChartVersion, chart string, v ChartVersion) ([]ChartVersion, error) {
	if v.Version == "" {
		return nil, fmt.Errorf("chart '%s': an entry has no version", chart)
	}
	if v.Name == "" {
		v.Name = chart
	}
	if len(versions) >= maxVersions {
		return nil, fmt.Errorf("chart '%s' has more than %d versions", chart, maxVersions)
	}
	return append(versions, v), nil
}

// yamlScanner walks a YAML index line by line. The top-level keys are at column 0; under
// 'entries:' each chart is a key at one indentation, and each of its versions a sequence
// item ('-') whose lines are more indented than its dash. An item's lines are parsed alone.
type yamlScanner struct {
	br   *bufio.Reader
	fn   func(string, []ChartVersion) error
	line []byte
	// pending is a line read but not yet used.
	pending []byte
	eof     bool
}

func scanYAML(br *bufio.Reader, fn func(string, []ChartVersion) error) error {
	s := &yamlScanner{br: br, fn: fn}
	apiVersion := ""
	sawEntries := false
	for {
		line, ok, err := s.next()
		if err != nil {
			return err
		}
		if !ok {
			break
		}
		if blank(line) || indent(line) > 0 {
			continue // the lines of a top-level key we skip
		}
		text := strings.TrimSpace(string(line))
		switch {
		case text == "---" || text == "...":
		case strings.HasPrefix(text, "apiVersion:"):
			var doc struct {
				APIVersion string `json:"apiVersion"`
			}
			if err := yaml.Unmarshal(line, &doc); err != nil {
				return fmt.Errorf("%w: apiVersion does not parse", ErrNotAnIndex)
			}
			apiVersion = doc.APIVersion
		case text == "entries:":
			sawEntries = true
			if err := s.entries(); err != nil {
				return err
			}
		case strings.HasPrefix(text, "entries:"):
			return fmt.Errorf("the index's entries are in flow style ('%s'), which this controller does not read: write it as `helm repo index` does", truncate(text, 40))
		case strings.Contains(text, ":") || strings.HasPrefix(text, "#"):
			// another top-level key (generated, serverInfo, annotations) or a comment
		default:
			return fmt.Errorf("%w: line '%s' is not a key", ErrNotAnIndex, truncate(text, 40))
		}
	}
	if apiVersion == "" {
		return fmt.Errorf("%w: it has no apiVersion", ErrNotAnIndex)
	}
	if !sawEntries {
		return fmt.Errorf("%w: it has no entries", ErrNotAnIndex)
	}
	return nil
}

// next returns the next line, without its newline.
func (s *yamlScanner) next() ([]byte, bool, error) {
	if s.pending != nil {
		l := s.pending
		s.pending = nil
		return l, true, nil
	}
	if s.eof {
		return nil, false, nil
	}
	s.line = s.line[:0]
	for {
		chunk, err := s.br.ReadSlice('\n')
		s.line = append(s.line, chunk...)
		if len(s.line) > maxLine {
			return nil, false, fmt.Errorf("the index has a line over %d bytes", maxLine)
		}
		if err == nil {
			break
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if errors.Is(err, io.EOF) {
			s.eof = true
			if len(s.line) == 0 {
				return nil, false, nil
			}
			break
		}
		return nil, false, err
	}
	l := bytes.TrimRight(s.line, "\r\n")
	return append([]byte(nil), l...), true, nil
}

// entries reads the charts under 'entries:' until a line at column 0.
func (s *yamlScanner) entries() error {
	chartIndent := -1
	var name string
	var versions []ChartVersion
	flush := func() error {
		if name == "" {
			return nil
		}
		err := s.fn(name, versions)
		name, versions = "", nil
		return err
	}
	for {
		line, ok, err := s.next()
		if err != nil {
			return err
		}
		if !ok {
			return flush()
		}
		if blank(line) || isComment(line) {
			continue
		}
		ind := indent(line)
		if ind == 0 {
			s.pending = line
			return flush()
		}
		if chartIndent < 0 {
			chartIndent = ind
		}
		trimmed := bytes.TrimSpace(line)
		switch {
		case trimmed[0] == '-' && ind >= chartIndent:
			if name == "" {
				return fmt.Errorf("%w: a version outside of any chart", ErrNotAnIndex)
			}
			v, err := s.item(line, ind)
			if err != nil {
				return fmt.Errorf("chart '%s': %w", name, err)
			}
			if versions, err = appendVersion(versions, name, v); err != nil {
				return err
			}
		case ind == chartIndent:
			if err := flush(); err != nil {
				return err
			}
			key, rest, err := chartKey(trimmed)
			if err != nil {
				return err
			}
			if rest != "" && rest != "[]" {
				return fmt.Errorf("chart '%s': its versions are in flow style, which this controller does not read", key)
			}
			name = key
		default:
			return fmt.Errorf("%w: line '%s' is indented as no chart or version is", ErrNotAnIndex, truncate(string(trimmed), 40))
		}
	}
}

// item collects a sequence item's lines (more indented than its dash) and parses them.
func (s *yamlScanner) item(first []byte, dash int) (ChartVersion, error) {
	var buf bytes.Buffer
	buf.Write(first[dash:])
	buf.WriteByte('\n')
	for {
		line, ok, err := s.next()
		if err != nil {
			return ChartVersion{}, err
		}
		if !ok {
			break
		}
		if !blank(line) && indent(line) <= dash {
			s.pending = line
			break
		}
		if len(line) > dash {
			buf.Write(line[dash:])
		}
		buf.WriteByte('\n')
		if buf.Len() > maxEntry {
			return ChartVersion{}, fmt.Errorf("a version's entry is over %d bytes", maxEntry)
		}
	}
	var items []ChartVersion
	if err := yaml.Unmarshal(buf.Bytes(), &items); err != nil {
		return ChartVersion{}, fmt.Errorf("an entry does not parse: %v", err)
	}
	if len(items) != 1 {
		return ChartVersion{}, fmt.Errorf("an entry does not parse as one version")
	}
	return items[0], nil
}

// chartKey reads 'name:' (plain or quoted) and what follows the colon.
func chartKey(line []byte) (string, string, error) {
	var m map[string]json.RawMessage
	if err := yaml.Unmarshal(line, &m); err != nil || len(m) != 1 {
		return "", "", fmt.Errorf("%w: '%s' is not a chart name", ErrNotAnIndex, truncate(string(line), 40))
	}
	for k, v := range m {
		rest := strings.TrimSpace(string(v))
		if rest == "null" {
			rest = ""
		}
		return k, rest, nil
	}
	return "", "", nil
}

func indent(line []byte) int {
	n := 0
	for n < len(line) && line[n] == ' ' {
		n++
	}
	return n
}

func blank(line []byte) bool { return len(bytes.TrimSpace(line)) == 0 }

func isComment(line []byte) bool { return bytes.HasPrefix(bytes.TrimSpace(line), []byte("#")) }

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
