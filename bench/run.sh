#!/usr/bin/env bash
# bench/run.sh — the Go implementations against their references (scipy,
# statsmodels, scikit-learn, PIL + torchvision, PyTorch), side by side, in
# one run on this machine. Prints a Markdown report (machine, versions,
# table of Go time / reference time) on stdout; progress goes to stderr and
# the raw `go test` / ref.py outputs to $BENCH_OUT (default: a new folder
# under /tmp, named at the end).
#
#   bench/run.sh > /tmp/bench.md
#
# Go half: needs only Go. Reference half: /usr/bin/python3 (or $PYTHON) with
# numpy, scipy, statsmodels, scikit-learn, torch, torchvision and PIL; if
# they are missing the script says so and the reference columns stay empty.
# Not run by CI (takes ~4-5 minutes on 2 cores); no timing thresholds.
#
# Threads: every Go row runs with GOMAXPROCS=1 against single-threaded
# numpy/scipy/PIL (OMP/MKL/OPENBLAS_NUM_THREADS=1, torch 1 thread), except
# the network rows: GOMAXPROCS=2 against torch.set_num_threads(2), and the
# one metric-stage row marked GOMAXPROCS=2 (against the same 1-thread
# reference, as stated in its row).
#
# Estimator: Go = best over -count runs of ns/op (ns/op itself averages the
# b.N calls of one run) or the benchmark's own best-of metric; reference =
# best over repeats of the average of `number` calls (bench/ref.py). The
# environment variable BENCH_COUNT (default 3) sets -count for the cheap
# rows.
set -uo pipefail

cd "$(dirname "$0")/.." || exit 1
ROOT=$(pwd)
PY=${PYTHON:-/usr/bin/python3}
COUNT=${BENCH_COUNT:-3}
OUT=${BENCH_OUT:-$(mktemp -d /tmp/selectivity-bench.XXXXXX)}
mkdir -p "$OUT"
: >"$OUT/py.jsonl"

log() { printf 'bench: %s\n' "$*" >&2; }
load() { cut -d' ' -f1-3 /proc/loadavg; }

START=$(date -u +%Y-%m-%dT%H:%M:%SZ)
T0=$(date +%s)
LOAD0=$(load)
NPROC=$(nproc)
log "load at start: $LOAD0 on $NPROC cores; raw output in $OUT"

if ! command -v go >/dev/null; then
	echo "bench/run.sh: go is not on PATH" >&2
	exit 1
fi

# ---- the Python references -------------------------------------------------
HAVE_PY=0
PYMSG=""
if [ -x "$PY" ] && OMP_NUM_THREADS=1 "$PY" bench/ref.py check >"$OUT/py-check.json" 2>"$OUT/py-check.err"; then
	HAVE_PY=1
else
	PYMSG="Python references not run: $PY with numpy/scipy/statsmodels/scikit-learn/torch/torchvision/PIL is missing ($(tail -n1 "$OUT/py-check.err" 2>/dev/null || echo "no $PY")). Only the Go half was measured."
	log "$PYMSG"
fi

# pyref GROUP: run one group of bench/ref.py, single-threaded BLAS/OpenMP.
pyref() {
	[ "$HAVE_PY" = 1 ] || return 0
	log "reference: $1"
	if ! OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 \
		"$PY" bench/ref.py "$1" >>"$OUT/py.jsonl" 2>"$OUT/py-$1.err"; then
		log "ref.py $1 failed: see $OUT/py-$1.err"
	fi
}

# gobench FILE PROCS PKG BENCHREGEX BENCHTIME COUNT
gobench() {
	local file=$1 procs=$2 pkg=$3 re=$4 bt=$5 count=$6
	log "go: GOMAXPROCS=$procs $pkg -bench '$re' -benchtime $bt -count $count"
	if ! GOMAXPROCS=$procs go test -run '^$' -bench "$re" -benchtime "$bt" -count "$count" "$pkg" >"$OUT/$file" 2>&1; then
		log "go test $pkg failed: see $OUT/$file"
	fi
}

# gometric FILE NAME UNIT [max]: the best (min, or max for rates) value of
# UNIT over the result lines of benchmark NAME (with or without -N suffix).
gometric() {
	awk -v name="$2" -v unit="$3" -v want="${4:-min}" '
		{ n = $1; sub(/-[0-9]+$/, "", n) }
		n == name { for (i = 3; i <= NF; i++) if ($i == unit) {
			v = $(i - 1) + 0
			if (!seen || (want == "max" ? v > best : v < best)) best = v
			seen = 1 } }
		END { if (seen) printf "%.9g\n", best }' "$OUT/$1" 2>/dev/null
}
# gons FILE NAME: best ns/op in seconds.
gons() { local v; v=$(gometric "$1" "$2" ns/op) && [ -n "$v" ] && awk -v v="$v" 'BEGIN { printf "%.9g\n", v / 1e9 }'; }
# pyval ID [FIELD]: a number from ref.py's JSON line ID (default best_s).
pyval() { grep -F "\"id\": \"$1\"" "$OUT/py.jsonl" 2>/dev/null | head -n1 | sed -nE "s/.*\"${2:-best_s}\": ([-0-9.eE+]+).*/\1/p"; }
pyinfo() { grep -F "\"id\": \"$1\"" "$OUT/py.jsonl" 2>/dev/null | head -n1 | sed -nE 's/.*"info": (\{.*\})\}$/\1/p'; }

# ---- runs, interleaved group by group (Go, then its reference) ------------
gobench stats.txt 1 ./stages/internal/stats \
	'^(BenchmarkCompareMannWhitney10k|BenchmarkCompareTTest10k|BenchmarkFDR|BenchmarkCompareSpearman100k)$' 1s "$COUNT"
pyref stats
gobench imaging.txt 1 ./stages/internal/imaging '^BenchmarkPipelineGray1024$' 1s "$COUNT"
pyref imaging
gobench metric1.txt 1 ./stages/internal/study '^BenchmarkCompareMetricUnit$' 3x 1
gobench metric2.txt 2 ./stages/internal/study '^BenchmarkCompareMetricUnit$' 3x 1
pyref metric
if [ -d stages/decode/svm ]; then
	gobench svm96.txt 1 ./stages/decode/svm '^BenchmarkFitStudySize$/^d96$' 1x "$COUNT"
	gobench svm512.txt 1 ./stages/decode/svm '^BenchmarkFitStudySize$/^d512$' 1x 1
	pyref svm
fi
# BenchmarkVGG16Forward runs testdata/net/bench.py itself (torch, 2 threads,
# best of 3) right after the Go passes: both numbers come from its output.
gobench vgg.txt 2 ./stages/internal/net '^BenchmarkVGG16Forward$' 1x 2
gobench resnet.txt 2 ./stages/internal/net '^BenchmarkResNet50Forward$' 3x 2
gobench netlesion.txt 2 ./stages/internal/net '^BenchmarkLesion$' 2s 1
if [ -d stages/lesion ]; then
	gobench lesion.txt 2 ./stages/lesion '^BenchmarkStudySize$' 2x 1
fi
pyref lesion
gobench train.txt 2 ./stages/internal/net '^BenchmarkTrainStep$' 5x 1
pyref train

LOAD1=$(load)
T1=$(date +%s)
log "load at end: $LOAD1; took $((T1 - T0)) s"

# ---- report ------------------------------------------------------------------
# dur SECONDS: human-readable.
dur() {
	awk -v s="$1" 'BEGIN {
		if (s == "") { print "—"; exit }
		if (s < 1e-3) printf "%.1f µs\n", s * 1e6
		else if (s < 1) printf "%.1f ms\n", s * 1e3
		else printf "%.2f s\n", s }'
}
ratio() { awk -v g="$1" -v r="$2" 'BEGIN { if (g == "" || r == "" || r == 0) print "—"; else printf "%.2f\n", g / r }'; }

ROWS=()
row() { # workload go ref threads gosec refsec
	ROWS+=("| $1 | $2 | $3 | $4 | $(dur "$5") | $(dur "$6") | **$(ratio "$5" "$6")** |")
}

row "Mann–Whitney U, greater, asymptotic, tie-corrected: 10,000 items × (288 P vs 1152 N), ~55% tied zeros" \
	"\`Scratch.MannWhitneyGreater\` per item (BenchmarkCompareMannWhitney10k)" \
	"\`scipy.stats.mannwhitneyu(P, N, axis=1, alternative=\"greater\", method=\"asymptotic\")\`" "1 / 1" \
	"$(gons stats.txt BenchmarkCompareMannWhitney10k)" "$(pyval mwu10k)"
row "Student t-test, 10,000 items × (288 vs 1152), same values" \
	"\`stats.TTest\` per item (BenchmarkCompareTTest10k)" "\`scipy.stats.ttest_ind(P, N, axis=1)\`" "1 / 1" \
	"$(gons stats.txt BenchmarkCompareTTest10k)" "$(pyval ttest10k)"
row "FDR Benjamini–Hochberg, 10⁶ p-values (genLarge)" \
	"\`stats.FDRTo\` (BenchmarkFDR)" "\`statsmodels multipletests(p, 0.05, method=\"fdr_bh\")\`" "1 / 1" \
	"$(gons stats.txt BenchmarkFDR)" "$(pyval fdr1e6)"
row "Spearman ρ, 10⁵ pairs" \
	"\`Scratch.Spearman\` (BenchmarkCompareSpearman100k)" "\`scipy.stats.spearmanr(x, y)\` (ρ and its p)" "1 / 1" \
	"$(gons stats.txt BenchmarkCompareSpearman100k)" "$(pyval spearman1e5)"
row "Preprocess one 1024×1024 gray JPEG (testdata/imaging/gray1024.jpg): decode, Resize 256, CenterCrop 224, ToTensor, Normalize" \
	"\`Decode\` + \`DefaultPipeline().Tensor\` (BenchmarkPipelineGray1024)" \
	"PIL \`Image.open(bytes).convert(\"RGB\")\` + torchvision transforms" "1 / 1" \
	"$(gons imaging.txt BenchmarkPipelineGray1024)" "$(pyval pipeline1024)"
row "Metric stage, unit level, 1440 images × 20,000 units, all four metrics (fsi, d′, Mann–Whitney, t-test × 4 domains + FDR BH)" \
	"whole \`metric\` kind, arrow in/out (BenchmarkCompareMetricUnit, best of 3)" \
	"numpy/scipy/statsmodels vectorised, in memory (no I/O)" "1 / 1" \
	"$(gometric metric1.txt BenchmarkCompareMetricUnit best-s)" "$(pyval metric_unit)"
row "— same, Go with 2 workers" \
	"same, GOMAXPROCS=2" "same (1 thread)" "**2** / 1" \
	"$(gometric metric2.txt BenchmarkCompareMetricUnit best-s)" "$(pyval metric_unit)"
if [ -d stages/decode/svm ]; then
	row "LinearSVC fit + predict, one-vs-rest, C=1: 100 identities × 9 train images × 96 standardised features (+100 test)" \
		"\`svm.Fit\` + \`Predict\` (BenchmarkFitStudySize/d96)" "\`sklearn.svm.LinearSVC().fit\` + \`predict\`" "1 / 1" \
		"$(gons svm96.txt BenchmarkFitStudySize/d96)" "$(pyval svm_d96)"
	row "— same, 512 features (all conv13 kernels; one run each)" \
		"BenchmarkFitStudySize/d512" "same" "1 / 1" \
		"$(gons svm512.txt BenchmarkFitStudySize/d512)" "$(pyval svm_d512)"
fi
GO_IPS=$(gometric vgg.txt BenchmarkVGG16Forward images/s max)
PT_IPS=$(gometric vgg.txt BenchmarkVGG16Forward torch-images/s max)
secs() { [ -n "$1" ] && awk -v r="$1" 'BEGIN { if (r > 0) printf "%.9g\n", 8 / r }'; }
row "VGG-16 forward, batch 8, 224 px, random init, to the logits (1000 classes)" \
	"\`net.Forward\` (BenchmarkVGG16Forward)" "testdata/net/bench.py (torchvision vgg16, eval, no_grad)" "2 / 2" \
	"$(secs "$GO_IPS")" "$(secs "$PT_IPS")"
GO_IPS=$(gometric resnet.txt BenchmarkResNet50Forward images/s max)
PT_IPS=$(gometric resnet.txt BenchmarkResNet50Forward torch-images/s max)
row "ResNet-50 forward, batch 8, 224 px, random init, to the logits (1000 classes)" \
	"\`net.Forward\` (BenchmarkResNet50Forward)" "testdata/net/bench.py resnet50 (torchvision resnet50, eval, no_grad)" "2 / 2" \
	"$(secs "$GO_IPS")" "$(secs "$PT_IPS")"
TORCH64=$(pyval lesion64)
row "One conv13 lesion, 64 images, 1000 classes: logits with one channel zeroed" \
	"\`Lesioner.Logits\` (fc6 contribution subtracted; BenchmarkLesion/Lesioner)" \
	"zero the channel, then maxpool → avgpool → classifier (torch)" "2 / 2" \
	"$(gons netlesion.txt BenchmarkLesion/Lesioner)" "$TORCH64"
row "— same, Go recomputing the head" \
	"\`ForwardFrom(\"conv13\")\` (BenchmarkLesion/ForwardFrom)" "same" "2 / 2" \
	"$(gons netlesion.txt BenchmarkLesion/ForwardFrom)" "$TORCH64"
if [ -d stages/lesion ]; then
	row "Lesion stage: one lesion on 200 task images, 2137 classes, + cross-entropy" \
		"stage evaluation with \`Lesioner\` (lesion BenchmarkStudySize, best of 2 × 30 lesions, 10 stacked per GEMM)" \
		"zero the channel, head, \`F.cross_entropy\` (torch)" "2 / 2" \
		"$(gometric lesion.txt BenchmarkStudySize s/lesion@200img)" "$(pyval lesion200)"
	row "— same, both sides with the same algorithm (fc6 slice subtracted, 10 lesions stacked per head GEMM)" \
		"same (lesion BenchmarkStudySize, 10 stacked)" \
		"\`addmm\` of the slice, stacked fc7/fc8, \`F.cross_entropy\` per lesion (torch, ref.py lesion200stack)" "2 / 2" \
		"$(gometric lesion.txt BenchmarkStudySize s/lesion@200img)" "$(pyval lesion200stack)"
fi

TRAIN_IPS=$(gometric train.txt BenchmarkTrainStep images/s max)
row "Training step of VGG-16 ÷ 8 (256-256 classifier, 108 classes), batch 32, 64 px: forward, backward, SGD (momentum 0.9, weight decay 1e-4)" \
	"\`Trainer.Step\` + \`SGD.Update\` (BenchmarkTrainStep, best step)" \
	"torchvision VGG, train mode, Dropout p = 0: \`cross_entropy(...).backward()\` + \`optim.SGD.step\`" "2 / 2" \
	"$([ -n "$TRAIN_IPS" ] && awk -v r="$TRAIN_IPS" 'BEGIN { printf "%.9g\n", 32 / r }')" "$(pyval train32)"

GOV=$(go version | awk '{print $3, $4}')
CPU=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
GOCPU=$(grep -h -m1 '^cpu:' "$OUT"/*.txt 2>/dev/null | head -n1 | cut -d: -f2- | sed 's/^ *//;s/ *$//')
MEM=$(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo)
HEAD=$(git rev-parse --short HEAD 2>/dev/null || echo "?")
DIRTY=$(git status --porcelain -- stages cache pipeline run.go go.mod 2>/dev/null | awk '{ printf "%s%s (%s)", sep, $2, $1 == "??" ? "untracked" : "modified"; sep = ", " }')

echo "## Run of $START"
echo
echo "- Command: \`bench/run.sh\` (BENCH_COUNT=$COUNT), $((T1 - T0)) s"
echo "- Machine: $NPROC cores, $CPU (Go reports \"$GOCPU\"), $MEM"
echo "- Load average (1/5/15 min): $LOAD0 at start, $LOAD1 at end"
if awk -v a="${LOAD0%% *}" -v b="${LOAD1%% *}" -v n="$NPROC" 'BEGIN { exit !(a > n / 2 || b > n / 2) }'; then
	echo "- **Loaded machine**: other work was running (1-min load above $NPROC/2), so absolute times are inflated and noisy; the ratios compare runs made a few seconds apart under the same load, and should be repeated."
fi
echo "- Go: $GOV; tree at $HEAD${DIRTY:+, plus uncommitted: $DIRTY}"
if [ "$HAVE_PY" = 1 ]; then
	echo "- Reference: $(sed -E 's/[{}"]//g; s/id: versions, //' "$OUT/py-check.json")"
else
	echo "- Reference: **not run**: ${PYMSG#Python references not run: }"
fi
echo
echo "Ratio = Go time / reference time (< 1: Go is faster). Threads = Go GOMAXPROCS / reference threads."
echo
echo "| Workload | Go | Reference | Threads | Go | Reference | Go/ref |"
echo "|---|---|---|---|---|---|---|"
printf '%s\n' "${ROWS[@]}"
echo
echo "Same-input checks (Go result lines / reference values):"
echo
{
for f in stats.txt metric1.txt; do
	grep -h 'result:' "$OUT/$f" 2>/dev/null | sed -E 's/^ *[a-z_]+\.go:[0-9]+: result: /- Go: /'
done
grep -h -m1 'max-iter' "$OUT"/svm96.txt "$OUT"/svm512.txt 2>/dev/null | awk '{ printf "- Go %s: accuracy %s, max-iter %s\n", $1, $5, $7 }'
for id in mwu10k fdr1e6 spearman1e5 metric_unit svm_d96 svm_d512 lesion64 train32; do
	i=$(pyinfo $id)
	[ -n "$i" ] && [ "$i" != "{}" ] && echo "- ref $id: $i"
done
grep -h 'Go .* images/s' "$OUT/vgg.txt" 2>/dev/null | sed -E 's/^ *[a-z_]+\.go:[0-9]+: /- VGG16Forward: /'
grep -h 'Go .* images/s' "$OUT/resnet.txt" 2>/dev/null | sed -E 's/^ *[a-z_]+\.go:[0-9]+: /- ResNet50Forward: /'
grep -h 'GEMM kernel' "$OUT/lesion.txt" 2>/dev/null | sed -E 's/^ *[a-z_]+\.go:[0-9]+: /- lesion StudySize: /'
} | awk '!seen[$0]++'
echo
echo "Raw outputs: $OUT"
log "done: raw outputs in $OUT"
