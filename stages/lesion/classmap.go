package lesion

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// ReadClassMap reads a class map: label name → output index of the
// network. By extension:
//
//   - .json: an object {"name": index, …}, or an array of names whose
//     positions are the indices (["n01440764", …]).
//   - .csv / .tsv: rows name,index (comma / tab separated, CSV quoting); a
//     first row whose index field is not an integer is a header and skipped.
//   - anything else (.txt): one entry per non-empty line, either every line
//     "name index" (the index is the last whitespace-separated field) or
//     every line a bare name whose index is its position among the non-empty
//     lines (ImageNet-style class lists). Lines starting with # are comments.
//
// Names must be unique; indices must be ≥ 0. Several names may share an
// index (aliases), but not two that the stimuli use: see classIndices.
func ReadClassMap(path string) (map[string]int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var m map[string]int
	switch strings.ToLower(filepath.Ext(path)) {
	case ".json":
		m, err = parseJSON(b)
	case ".csv":
		m, err = parseCSV(b, ',')
	case ".tsv":
		m, err = parseCSV(b, '\t')
	default:
		m, err = parseText(b)
	}
	if err != nil {
		return nil, fmt.Errorf("class map %s: %w", path, err)
	}
	if len(m) == 0 {
		return nil, fmt.Errorf("class map %s: no entries", path)
	}
	return m, nil
}

type mapBuilder struct {
	m map[string]int
}

func (b *mapBuilder) add(name string, idx int, where string) error {
	if name == "" {
		return fmt.Errorf("%s: empty name", where)
	}
	if idx < 0 {
		return fmt.Errorf("%s: negative index %d", where, idx)
	}
	if prev, dup := b.m[name]; dup {
		return fmt.Errorf("%s: %q given twice (indices %d and %d)", where, name, prev, idx)
	}
	b.m[name] = idx
	return nil
}

func parseJSON(data []byte) (map[string]int, error) {
	b := mapBuilder{m: map[string]int{}}
	data = bytes.TrimSpace(data)
	if len(data) > 0 && data[0] == '[' {
		var names []string
		if err := json.Unmarshal(data, &names); err != nil {
			return nil, err
		}
		for i, n := range names {
			if err := b.add(n, i, fmt.Sprintf("entry %d", i)); err != nil {
				return nil, err
			}
		}
		return b.m, nil
	}
	// Read pair by pair: decoding into a map would keep the last of two
	// equal keys without a word.
	bad := func(err error) error {
		return fmt.Errorf("want an object of name: index or an array of names: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if tok, err := dec.Token(); err != nil {
		return nil, bad(err)
	} else if tok != json.Delim('{') {
		return nil, bad(fmt.Errorf("found %v", tok))
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, bad(err)
		}
		n := tok.(string) // object keys are strings
		var v json.Number
		if err := dec.Decode(&v); err != nil {
			return nil, fmt.Errorf("%q: want an integer index: %w", n, err)
		}
		i, err := strconv.Atoi(v.String())
		if err != nil {
			return nil, fmt.Errorf("%q: index %s is not an integer", n, v)
		}
		if err := b.add(n, i, fmt.Sprintf("%q", n)); err != nil {
			return nil, err
		}
	}
	if _, err := dec.Token(); err != nil {
		return nil, bad(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, bad(errors.New("data after the object"))
	}
	return b.m, nil
}

func parseCSV(data []byte, comma rune) (map[string]int, error) {
	r := csv.NewReader(bytes.NewReader(data))
	r.Comma = comma
	r.TrimLeadingSpace = true
	r.Comment = '#'
	recs, err := r.ReadAll()
	if err != nil {
		return nil, err
	}
	b := mapBuilder{m: map[string]int{}}
	for i, rec := range recs {
		if len(rec) != 2 {
			return nil, fmt.Errorf("row %d: %d fields, want name,index", i+1, len(rec))
		}
		idx, err := strconv.Atoi(strings.TrimSpace(rec[1]))
		if err != nil {
			if i == 0 {
				continue // header
			}
			return nil, fmt.Errorf("row %d: index %q is not an integer", i+1, rec[1])
		}
		if err := b.add(strings.TrimSpace(rec[0]), idx, fmt.Sprintf("row %d", i+1)); err != nil {
			return nil, err
		}
	}
	return b.m, nil
}

func parseText(data []byte) (map[string]int, error) {
	b := mapBuilder{m: map[string]int{}}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<20)
	pairs := -1 // unknown, 0 bare names, 1 name index
	pos := 0
	for line := 1; sc.Scan(); line++ {
		s := strings.TrimSpace(sc.Text())
		if s == "" || strings.HasPrefix(s, "#") {
			continue
		}
		f := strings.Fields(s)
		idx, err := strconv.Atoi(f[len(f)-1])
		isPair := len(f) >= 2 && err == nil
		if pairs == -1 {
			pairs = 0
			if isPair {
				pairs = 1
			}
		}
		where := fmt.Sprintf("line %d", line)
		switch {
		case pairs == 1 && isPair:
			name := strings.TrimSpace(strings.TrimSuffix(s, f[len(f)-1]))
			if err := b.add(name, idx, where); err != nil {
				return nil, err
			}
		case pairs == 0 && len(f) == 1:
			if err := b.add(s, pos, where); err != nil {
				return nil, err
			}
		case pairs == 1:
			return nil, fmt.Errorf("%s: %q is not \"name index\" like the first entry", where, s)
		default:
			return nil, fmt.Errorf("%s: %q is not a bare name like the first entry", where, s)
		}
		pos++
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return b.m, nil
}
