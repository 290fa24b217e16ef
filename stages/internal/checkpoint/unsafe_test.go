package checkpoint

import "testing"

// A checkpoint whose pickle references a function that runs commands,
// beside a good state dict, is refused by the function's name (harmless
// unknown globals still load: see TestPickleBombs).
func TestPickleWithCodeRunningGlobalsIsRefused(t *testing.T) {
	for _, g := range [][2]string{{"os", "system"}, {"posix", "system"}, {"subprocess", "Popen"}, {"builtins", "eval"}, {"os.path", "join"}} {
		call := func(p *pk) { p.str("cmd").global(g[0], g[1]).op('(').str("touch /tmp/pwned").op('t', 'R') }
		data := zipCheckpoint(stateDictPickle([]fakeTensor{w9}, false, call), map[string][]byte{"0": f32(9)})
		loadBad(t, g[0]+".pt", data, "references "+g[0]+"."+g[1]+", which runs code or commands: refused")
	}
}
