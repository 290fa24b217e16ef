#!/usr/bin/env bash
# bench/study.sh — the study at scale on one machine: bench/study.yaml
# (configs/study.yaml's analyses on N synthetic fLOC-like images at 224 px
# and two seeded VGG-16s, no data files), then the same extraction job in
# PyTorch (bench/study_ref.py) right after, for the ratio. Prints a Markdown
# report on stdout: wall time per stage, peak RSS of the run, peak disk of
# its cache (du polled every 2 s), and Go/PyTorch for the extraction.
#
#   N=1440 bench/study.sh > /tmp/study.md     # the study's size (long)
#   N=144 bench/study.sh                      # a small check
#
# N (default 1440) is rounded down to a multiple of 10 (10 categories).
# PYTHON (default /usr/bin/python3) runs the reference; a path that is not
# there skips it.
# J (default 1) stages at a time, so each stage's wall time is its own.
# Everything is written under $STUDY_OUT (default: a new folder under /tmp):
# the cache, the results, the lock file, the raw logs. Not run by CI; no
# thresholds.
set -uo pipefail

cd "$(dirname "$0")/.." || exit 1
N=${N:-1440}
J=${J:-1}
PER=$((N / 10))
N=$((PER * 10))
PY=${PYTHON:-/usr/bin/python3}
OUT=${STUDY_OUT:-$(mktemp -d /tmp/selectivity-study.XXXXXX)}
mkdir -p "$OUT/cache" "$OUT/ref"
log() { printf 'study: %s\n' "$*" >&2; }
[ "$PER" -ge 2 ] || { echo "bench/study.sh: N must be at least 20" >&2; exit 1; }

log "N=$N images ($PER per category), -j $J; output in $OUT; load $(cut -d' ' -f1-3 /proc/loadavg)"
go build -o "$OUT/selectivity" . || exit 1
cp bench/study.yaml "$OUT/study.yaml"

# Peak disk (the cache's size) and peak anonymous memory of the run (RSS
# without the file pages of memory-mapped Arrow files, which the kernel
# may drop at will), polled.
( peak=0; anon=0; while :; do
	s=$(du -sb "$OUT/cache" 2>/dev/null | cut -f1); s=${s:-0}
	[ "$s" -gt "$peak" ] && peak=$s && echo "$peak" >"$OUT/peak-disk"
	pid=$(pgrep -f "^$OUT/selectivity run" | head -n 1)
	a=$(awk '/^RssAnon:/ {print $2}' "/proc/$pid/status" 2>/dev/null); a=${a:-0}
	[ "$a" -gt "$anon" ] && anon=$a && echo "$anon" >"$OUT/peak-anon-kb"
	sleep 2
done ) &
POLL=$!
trap 'kill $POLL 2>/dev/null' EXIT

T0=$(date +%s)
PER_CATEGORY=$PER /usr/bin/time -f '%M %e' -o "$OUT/time" \
	"$OUT/selectivity" run "$OUT/study.yaml" -cache "$OUT/cache" -j "$J" >"$OUT/run.log" 2>&1
RC=$?
kill $POLL 2>/dev/null
read -r RSS_KB WALL <"$OUT/time"
PEAK=$(cat "$OUT/peak-disk" 2>/dev/null || echo 0)
FINAL=$(du -sb "$OUT/cache" | cut -f1)
[ "$RC" = 0 ] || log "the run failed (exit $RC): see $OUT/run.log"

REF=""
if [ -x "$PY" ]; then
	log "PyTorch reference: $N images"
	REF=$("$PY" bench/study_ref.py "$N" "$OUT/ref" 2>"$OUT/ref.err") || { log "study_ref.py failed: see $OUT/ref.err"; REF=""; }
	rm -f "$OUT"/ref/*.f32
fi

gb() { awk -v b="$1" 'BEGIN{printf "%.2f GB", b/1e9}'; }
echo "## Study benchmark: N=$N images at 224 px, two seeded VGG-16s (-j $J)"
echo
echo "Started $(date -u -d @"$T0" +%Y-%m-%dT%H:%M:%SZ), $(nproc) cores, load at end $(cut -d' ' -f1-3 /proc/loadavg); tree $(git rev-parse --short HEAD)$(git diff --quiet || echo '+dirty'); exit status $RC."
echo
echo "| stage | state | wall |"
echo "|---|---|---|"
grep -E '^(ran|cached|not needed|failed|skipped|removed) ' "$OUT/run.log" |
	awk '{st=$1; if (st=="not") {st="not needed"; $2=$3} ; w=""; for(i=3;i<=NF;i++) if ($i ~ /^[0-9.]+s$/) {w=$i; break}; if ($1=="removed") w="(entry removed)"; print "| " $2 " | " st " | " w " |"}'
echo
echo "- whole run: ${WALL} s wall, peak RSS $(awk -v k="$RSS_KB" 'BEGIN{printf "%.2f GB", k*1024/1e9}') (file pages of memory-mapped files included), of which anonymous memory at most $(awk -v k="$(cat "$OUT/peak-anon-kb" 2>/dev/null || echo 0)" 'BEGIN{printf "%.2f GB", k*1024/1e9}') (polled every 2 s)"
echo "- cache: peak $(gb "$PEAK") (du every 2 s), at the end $(gb "$FINAL")"
if [ -n "$REF" ]; then
	GO_S=$(grep -E '^ran +acts@1 ' "$OUT/run.log" | awk '{for(i=3;i<=NF;i++) if ($i ~ /^[0-9.]+s$/) {sub("s","",$i); print $i; exit}}')
	PT_S=$(echo "$REF" | sed -E 's/.*"seconds": ([0-9.]+).*/\1/')
	echo "- extraction of one network (acts@1: $N images, conv2/4/7/10/13 to disk, 2 threads): Go ${GO_S:-?} s, PyTorch $(printf '%.1f' "$PT_S") s ($REF), **Go/PyTorch $(awk -v g="${GO_S:-0}" -v p="$PT_S" 'BEGIN{printf "%.2f", g/p}')**"
else
	echo "- PyTorch reference not run ($PY with torch and torchvision missing, or it failed)"
fi
