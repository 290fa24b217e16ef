package cache

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"
)

// FileInfo describes one file of an entry as it was committed.
type FileInfo struct {
	// Name is slash-separated and relative to the entry folder.
	Name string `json:"name"`
	Size int64  `json:"size"`
	// SHA256 is the lowercase hex SHA-256 of the file's bytes.
	SHA256 string `json:"sha256"`
	// ModTime is the file's mtime in nanoseconds since the Unix epoch. Lookup
	// re-hashes a file only when its mtime no longer matches.
	ModTime int64 `json:"mtime_ns"`
}

// InputRef names the entry an input slot was filled from.
type InputRef struct {
	Slot  string `json:"slot"`
	Stage string `json:"stage"`
	Key   string `json:"key"`
}

// Manifest is an entry's manifest.json: what computed it and what it holds.
type Manifest struct {
	Key     string `json:"key"`
	Stage   string `json:"stage"`
	Kind    string `json:"kind"`
	Version string `json:"version"`
	// Params is the canonical JSON of the resolved parameters.
	Params json.RawMessage `json:"params"`
	Inputs []InputRef      `json:"inputs"`
	// Files is filled in by Commit, sorted by name; the manifest itself is
	// not listed.
	Files       []FileInfo `json:"files"`
	Created     time.Time  `json:"created"`
	WallSeconds float64    `json:"wall_seconds"`
}

// Entry is a committed cache entry.
type Entry struct {
	Key string
	// Dir is the entry's folder; its files are Dir/<FileInfo.Name>.
	Dir      string
	Manifest Manifest
}

// Path returns the path of the entry's file name (slash-separated, as in
// Manifest.Files).
func (e *Entry) Path(name string) string {
	return filepath.Join(e.Dir, filepath.FromSlash(name))
}

// DamagedError reports an entry that exists but does not match its manifest.
// Each problem names the file and what is wrong with it.
type DamagedError struct {
	Key      string
	Problems []string
}

func (e *DamagedError) Error() string {
	return fmt.Sprintf("cache: entry %s is damaged: %s", e.Key, strings.Join(e.Problems, "; "))
}

// Lookup returns key's entry after a cheap check: the manifest is readable
// and names key, and every listed file exists as a regular file of the listed
// size. A file whose mtime differs from the manifest's is re-hashed; a file
// whose mtime matches is trusted without reading it. So Lookup is fast on
// multi-GB entries but misses a same-size change whose writer restored the
// mtime — the intended trade-off; Verify catches that too. Files the
// manifest does not list are ignored.
//
// Lookup returns an error wrapping ErrNotFound if there is no entry, and a
// *DamagedError if the entry is damaged. It writes nothing.
func (s *Store) Lookup(key string) (*Entry, error) {
	return s.check(key, false)
}

// Verify is Lookup re-hashing every file, whatever its mtime.
func (s *Store) Verify(key string) (*Entry, error) {
	return s.check(key, true)
}

func (s *Store) check(key string, full bool) (*Entry, error) {
	if err := checkKey(key); err != nil {
		return nil, err
	}
	dir := s.EntryDir(key)
	info, err := os.Lstat(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("cache: entry %s: %w", key, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("cache: entry %s: %w", key, err)
	}
	if !info.IsDir() {
		return nil, &DamagedError{Key: key, Problems: []string{dir + ": not a folder"}}
	}
	m, err := readManifest(filepath.Join(dir, ManifestName))
	if err != nil {
		return nil, &DamagedError{Key: key, Problems: []string{ManifestName + ": unreadable: " + err.Error()}}
	}
	var problems []string
	if m.Key != key {
		problems = append(problems, fmt.Sprintf("%s: key %q, want %q", ManifestName, m.Key, key))
	}
	seen := make(map[string]bool, len(m.Files))
	for _, f := range m.Files {
		if p := checkFileInfo(f, seen); p != "" {
			problems = append(problems, p)
			continue
		}
		if p := checkFile(filepath.Join(dir, filepath.FromSlash(f.Name)), f, full); p != "" {
			problems = append(problems, f.Name+": "+p)
		}
	}
	if len(problems) > 0 {
		return nil, &DamagedError{Key: key, Problems: problems}
	}
	return &Entry{Key: key, Dir: dir, Manifest: *m}, nil
}

// readManifest reads and decodes a manifest file.
func readManifest(p string) (*Manifest, error) {
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, err
	}
	var m Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	return &m, nil
}

// checkFileInfo checks a manifest's file record on its own (a hand-edited
// or corrupted manifest must not make Lookup read outside the entry).
func checkFileInfo(f FileInfo, seen map[string]bool) string {
	switch {
	case !validName(f.Name):
		return fmt.Sprintf("%s: invalid file name %q", ManifestName, f.Name)
	case seen[f.Name]:
		return fmt.Sprintf("%s: file %q listed twice", ManifestName, f.Name)
	case f.Size < 0:
		return fmt.Sprintf("%s: file %q has size %d", ManifestName, f.Name, f.Size)
	case len(f.SHA256) != 64 || !ValidKey(f.SHA256):
		return fmt.Sprintf("%s: file %q has malformed sha256 %q", ManifestName, f.Name, f.SHA256)
	}
	seen[f.Name] = true
	return ""
}

// validName reports whether name is a clean, slash-separated, local name
// that is not the manifest itself.
func validName(name string) bool {
	return name != "" && name != ManifestName && !strings.Contains(name, `\`) &&
		path.Clean(name) == name && filepath.IsLocal(filepath.FromSlash(name))
}

// checkFile compares one file with its record and returns what is wrong, or
// "". The file is hashed when full is set or its mtime changed.
func checkFile(p string, f FileInfo, full bool) string {
	info, err := os.Lstat(p)
	if errors.Is(err, fs.ErrNotExist) {
		return "missing"
	}
	if err != nil {
		return err.Error()
	}
	if !info.Mode().IsRegular() {
		return "not a regular file"
	}
	if info.Size() != f.Size {
		return fmt.Sprintf("size %d, manifest says %d", info.Size(), f.Size)
	}
	if !full && info.ModTime().UnixNano() == f.ModTime {
		return ""
	}
	sum, _, err := hashFile(p)
	if err != nil {
		return err.Error()
	}
	if sum != f.SHA256 {
		return "sha256 differs"
	}
	return ""
}

// hashFile returns the hex SHA-256 of a file and its size.
func hashFile(p string) (string, int64, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return "", 0, fmt.Errorf("read %s: %w", p, err)
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}
