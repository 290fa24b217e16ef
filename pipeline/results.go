package pipeline

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/hashicorp/go-multierror"
	"golang.org/x/sys/unix"

	"selectivity/cache"
)

// The results folder is shared with the user (results: . in a repository,
// two experiments with one results folder), so the runner removes only what
// it can prove it made: each experiment keeps a record,
// <results>/.<experiment>.results.json, of the links it made there and of
// the folders it created for them, and the key of each stage it shows. A link is removed only if the record
// holds it and it is still a symlink into a cache entry; a folder only if
// the record holds it and it is empty. Nothing else in the folder is ever
// walked, changed or removed. Publishing holds an flock on the results
// folder, so concurrent runs sharing it update links and records in turn.

// resultsRecord is what one experiment made in its results folder, as
// slash paths relative to it.
type resultsRecord struct {
	Links []string `json:"links"`
	Dirs  []string `json:"dirs"`
	// Stages maps each stage whose outputs the folder shows to its key,
	// so that status can tell when the folder shows another run.
	Stages map[string]string `json:"stages,omitempty"`
	// Lock is the run's lock file, relative to the folder.
	Lock string `json:"lock,omitempty"`
}

// RecordPath is where the record of exp's results folder lives.
func RecordPath(exp *Experiment) string {
	return filepath.Join(exp.ResultsDir, "."+exp.Name+".results.json")
}

// readRecord reads the record at p; a missing one is empty, an unreadable
// one is empty with an error (what it listed is then left in place).
func readRecord(p string) (*resultsRecord, error) {
	rec := &resultsRecord{}
	b, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return rec, nil
	}
	if err == nil {
		err = json.Unmarshal(b, rec)
	}
	if err != nil {
		return &resultsRecord{}, fmt.Errorf("results record %s: %w; links it listed are left in place", p, err)
	}
	return rec, nil
}

// publisher links stages' outputs into a results folder, remembering what
// it made.
type publisher struct {
	root      string // the results folder
	cacheRoot string
	links     map[string]bool   // recorded links, slash paths
	dirs      map[string]bool   // recorded folders, slash paths
	stages    map[string]string // stage → key shown
	lock      string            // the lock file, relative to root
}

// lockDir takes an exclusive flock on folder dir, waiting for it.
func lockDir(dir string) (unlock func(), err error) {
	f, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	for {
		err = unix.Flock(int(f.Fd()), unix.LOCK_EX)
		if !errors.Is(err, unix.EINTR) {
			break
		}
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", dir, err)
	}
	return func() { f.Close() }, nil
}

// mkdirs makes the folders from the results folder down to rel (a slash
// path), recording those it creates.
func (pb *publisher) mkdirs(rel string) error {
	if rel == "." || rel == "" {
		return nil
	}
	if err := pb.mkdirs(path.Dir(rel)); err != nil {
		return err
	}
	p := filepath.Join(pb.root, filepath.FromSlash(rel))
	err := os.Mkdir(p, 0o755)
	switch {
	case err == nil:
		pb.dirs[rel] = true
		return nil
	case errors.Is(err, fs.ErrExist):
		if fi, serr := os.Stat(p); serr == nil && fi.IsDir() {
			return nil
		}
		return fmt.Errorf("%s exists and is not a folder; move it away", p)
	}
	return err
}

// link makes the results path rel (slash) a relative symlink to target, a
// file of a cache entry. It replaces only a symlink it recorded or one
// into a cache entry; the symlink is made under a name unique to this
// process and renamed into place, so concurrent runs never collide.
func (pb *publisher) link(rel, target string) error {
	if err := pb.mkdirs(path.Dir(rel)); err != nil {
		return err
	}
	p := filepath.Join(pb.root, filepath.FromSlash(rel))
	target, err := filepath.Rel(filepath.Dir(p), target)
	if err != nil {
		return err
	}
	if cur, err := os.Readlink(p); err == nil && cur == target {
		pb.links[rel] = true
		return nil
	}
	if fi, err := os.Lstat(p); err == nil && (fi.Mode()&os.ModeSymlink == 0 || !intoCache(p, pb.cacheRoot)) {
		return fmt.Errorf("%s exists and is not a link made by this program; move it away", p)
	}
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		return err
	}
	tmp := filepath.Join(filepath.Dir(p), fmt.Sprintf(".%s.tmp-link.%d.%s", filepath.Base(p), os.Getpid(), hex.EncodeToString(b[:])))
	if err := os.Symlink(target, tmp); err != nil {
		return err
	}
	if err := os.Rename(tmp, p); err != nil {
		os.Remove(tmp)
		return err
	}
	pb.links[rel] = true
	return nil
}

// tmpLinkRE matches the temporary links of link: .<name>.tmp-link.<pid>.<hex>.
var tmpLinkRE = regexp.MustCompile(`^\..+\.tmp-link\.([0-9]+)\.[0-9a-f]{12}$`)

// cleanTmpLinks removes from folder dir (slash, relative) the temporary
// links of processes that are gone (killed between making one and renaming
// it into place), if they point into a cache entry.
func (pb *publisher) cleanTmpLinks(dir string) {
	p := filepath.Join(pb.root, filepath.FromSlash(dir))
	ents, err := os.ReadDir(p)
	if err != nil {
		return
	}
	for _, e := range ents {
		m := tmpLinkRE.FindStringSubmatch(e.Name())
		if m == nil || e.Type()&os.ModeSymlink == 0 {
			continue
		}
		pid, err := strconv.Atoi(m[1])
		if err != nil || pid == os.Getpid() || !errors.Is(unix.Kill(pid, 0), unix.ESRCH) {
			continue // alive, or not ours to judge
		}
		if l := filepath.Join(p, e.Name()); intoCache(l, pb.cacheRoot) {
			os.Remove(l)
		}
	}
}

// prune removes the recorded links that keep rejects, if they are still
// links into a cache entry, then the recorded folders left empty, deepest
// first. A folder that still holds something stays recorded.
func (pb *publisher) prune(keep func(rel string) bool) {
	for rel := range pb.links {
		if keep(rel) {
			continue
		}
		p := filepath.Join(pb.root, filepath.FromSlash(rel))
		if fi, err := os.Lstat(p); err == nil && fi.Mode()&os.ModeSymlink != 0 && intoCache(p, pb.cacheRoot) {
			if os.Remove(p) != nil {
				continue
			}
		}
		delete(pb.links, rel) // gone, or no longer ours
	}
	dirs := sortedKeys(pb.dirs)
	slices.SortStableFunc(dirs, func(a, b string) int { return strings.Count(b, "/") - strings.Count(a, "/") })
	for _, d := range dirs {
		p := filepath.Join(pb.root, filepath.FromSlash(d))
		if err := os.Remove(p); err == nil || errors.Is(err, fs.ErrNotExist) {
			delete(pb.dirs, d)
		} else if fi, serr := os.Lstat(p); serr == nil && !fi.IsDir() {
			delete(pb.dirs, d) // replaced by the user
		}
	}
}

// save writes the record, or removes it when it lists nothing.
func (pb *publisher) save(p string) error {
	rec := resultsRecord{Links: sortedKeys(pb.links), Dirs: sortedKeys(pb.dirs), Stages: pb.stages, Lock: pb.lock}
	if len(rec.Links) == 0 && len(rec.Dirs) == 0 && len(rec.Stages) == 0 {
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		return nil
	}
	b, err := json.MarshalIndent(rec, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(p, append(b, '\n'))
}

func sortedKeys(m map[string]bool) []string {
	s := make([]string, 0, len(m))
	for k := range m {
		s = append(s, k)
	}
	slices.Sort(s)
	return s
}

// intoCache tells whether the symlink at path is one this program made: it
// points into the cache, or into an entry of another cache (the results
// folder of a run with another --cache).
func intoCache(path, cacheRoot string) bool {
	target, err := os.Readlink(path)
	if err != nil {
		return false
	}
	if !filepath.IsAbs(target) {
		target = filepath.Join(filepath.Dir(path), target)
	}
	target = filepath.Clean(target)
	root, err := filepath.Abs(cacheRoot)
	return err == nil && strings.HasPrefix(target, root+string(filepath.Separator)) ||
		cache.InEntry(target)
}

// publishResults links the outputs of the stages in done (stage name →
// entry) into the experiment's results folder, removes the links it made
// for stages no longer in the experiment and for outputs a stage no longer
// has, and updates the record. Stages in now but not in done keep their
// links.
func publishResults(exp *Experiment, done map[string]*cache.Entry, now map[string]bool, cacheRoot string) error {
	if err := os.MkdirAll(exp.ResultsDir, 0o755); err != nil {
		return err
	}
	unlock, err := lockDir(exp.ResultsDir)
	if err != nil {
		return err
	}
	defer unlock()
	recPath := RecordPath(exp)
	rec, recErr := readRecord(recPath)
	pb := &publisher{root: exp.ResultsDir, cacheRoot: cacheRoot, links: map[string]bool{}, dirs: map[string]bool{}, stages: map[string]string{}}
	for _, l := range rec.Links {
		pb.links[l] = true
	}
	for _, d := range rec.Dirs {
		pb.dirs[d] = true
	}
	if r, err := filepath.Rel(exp.ResultsDir, exp.LockFile); err == nil {
		pb.lock = filepath.ToSlash(r)
	}
	for name, key := range rec.Stages {
		if now[name] {
			pb.stages[name] = key
		}
	}
	var errs []error
	if recErr != nil {
		errs = append(errs, recErr)
	}
	wanted := map[string]bool{}
	linkDirs := map[string]bool{}
	for _, name := range sortedKeys(now) {
		e := done[name]
		if e == nil {
			continue
		}
		pb.stages[name] = e.Manifest.Key
		for _, f := range e.Manifest.Files {
			rel := name + "/" + f.Name
			wanted[rel] = true
			linkDirs[path.Dir(rel)] = true
			if err := pb.link(rel, filepath.Join(e.Dir, filepath.FromSlash(f.Name))); err != nil {
				errs = append(errs, fmt.Errorf("results of %s: %w", name, err))
				delete(pb.stages, name) // shows a mix
			}
		}
	}
	for _, d := range sortedKeys(linkDirs) {
		pb.cleanTmpLinks(d)
	}
	pb.prune(func(rel string) bool {
		stage, _, _ := strings.Cut(rel, "/")
		if done[stage] != nil {
			return wanted[rel]
		}
		return now[stage] // not up to date this run: keeps its last links
	})
	if err := pb.save(recPath); err != nil {
		errs = append(errs, fmt.Errorf("results record: %w", err))
	}
	return errors.Join(errs...)
}

// ShownKeys returns the key of each stage whose outputs exp's results
// folder shows, from its record; a missing record shows nothing.
func ShownKeys(exp *Experiment) (map[string]string, error) {
	rec, err := readRecord(RecordPath(exp))
	if rec.Stages == nil {
		rec.Stages = map[string]string{}
	}
	return rec.Stages, err
}

// LockOfResults returns the lock file of the run whose results folder is
// dir, as the folder's record names it. A folder shared by several
// experiments holds several records: then it is an error naming them.
func LockOfResults(dir string) (string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return "", err
	}
	var locks, names []string
	for _, e := range ents {
		n := e.Name()
		if !strings.HasPrefix(n, ".") || !strings.HasSuffix(n, ".results.json") || !e.Type().IsRegular() {
			continue
		}
		rec, err := readRecord(filepath.Join(dir, n))
		if err != nil {
			return "", err
		}
		if rec.Lock != "" {
			locks = append(locks, filepath.Join(dir, filepath.FromSlash(rec.Lock)))
			names = append(names, strings.TrimSuffix(strings.TrimPrefix(n, "."), ".results.json"))
		}
	}
	switch len(locks) {
	case 0:
		return "", fmt.Errorf("%s: no results record naming a lock file (not a results folder, or written before records named their lock: run the experiment again)", dir)
	case 1:
		return locks[0], nil
	}
	return "", fmt.Errorf("%s holds the results of several experiments (%s): name one's lock file instead", dir, strings.Join(names, ", "))
}

// publish links each up-to-date stage's outputs into the results folder and
// records them in the lock file. Stages that did not finish keep their
// previous lock record; stages no longer in the experiment lose theirs.
// Temp stages are recorded but not shown: their entries come and go, and
// links they had are removed.
func (p *Plan) publish(list []*Outcome, lock *LockFile, store *cache.Store) error {
	var errs *multierror.Error
	stagesNow, shown := map[string]bool{}, map[string]bool{}
	done := map[string]*cache.Entry{}
	for _, o := range list {
		stagesNow[o.Stage] = true
		temp := p.index[o.Stage].Stage.Temp
		if !temp {
			shown[o.Stage] = true
		}
		if o.Entry == nil || o.Err != nil {
			continue
		}
		lock.Stages[o.Stage] = lockStage(p.index[o.Stage], o.Entry)
		if !temp {
			done[o.Stage] = o.Entry
		}
	}
	if err := publishResults(p.Exp, done, shown, store.Root()); err != nil {
		errs = multierror.Append(errs, err)
	}
	for name := range lock.Stages {
		if !stagesNow[name] {
			delete(lock.Stages, name)
		}
	}
	lock.Experiment, lock.Run, lock.Overrides = p.Exp.Name, p.Exp.Run, p.Exp.Overrides
	lock.Results = p.Exp.ResultsDir
	if r, err := filepath.Rel(filepath.Dir(p.Exp.LockFile), p.Exp.ResultsDir); err == nil {
		lock.Results = filepath.ToSlash(r)
	}
	for _, f := range []string{p.Exp.LockFile, RecordPath(p.Exp)} {
		if _, err := CleanStaleTemps(f, false); err != nil {
			errs = multierror.Append(errs, fmt.Errorf("stale temporary files: %w", err))
		}
	}
	if err := lock.Write(p.Exp.LockFile); err != nil {
		errs = multierror.Append(errs, fmt.Errorf("lock file: %w", err))
	}
	return errs.ErrorOrNil()
}
