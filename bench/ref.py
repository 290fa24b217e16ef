#!/usr/bin/env python3
"""Reference (numpy/scipy/statsmodels/scikit-learn/PIL/torchvision/PyTorch)
timings for bench/run.sh, on the same inputs as the Go benchmarks.

Usage: /usr/bin/python3 bench/ref.py GROUP [GROUP ...]
  GROUP: check | stats | imaging | metric | svm | lesion | train

Each timed workload prints one JSON line:
  {"id": ..., "best_s": ..., "median_s": ..., "repeats": r, "number": k,
   "threads": t, "info": ...}
best_s / median_s are over r repeats of (k calls, averaged) — the same
estimator run.sh applies to `go test -count r` (each count is ns/op, an
average over b.N calls). One warm-up call precedes the repeats.

Threads: run.sh sets OMP/MKL/OPENBLAS_NUM_THREADS=1; numpy/scipy work is
single-threaded; torch is set to 1 thread (imaging) or 2 threads (lesion, train,
against Go with GOMAXPROCS=2). `check` only imports everything and prints
the versions (exit status 1 if something is missing).
"""
import io
import json
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def emit(id_, times, number, threads=1, **info):
    print(json.dumps({"id": id_, "best_s": min(times), "median_s": statistics.median(times),
                      "repeats": len(times), "number": number, "threads": threads,
                      "info": info}), flush=True)


def timeit(fn, repeats, number=1, warmup=1):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        for _ in range(number):
            fn()
        times.append((time.perf_counter() - t) / number)
    return times


# ---------------------------------------------------------------------------
# Inputs shared with stages/internal/stats/bench_compare_test.go (bit for bit).

def _uniform(seed, idx):
    import numpy as np
    u64 = np.uint64
    x = (u64(seed) << u64(32)) + idx + u64(0x9E3779B97F4A7C15)
    x = (x ^ (x >> u64(30))) * u64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> u64(27))) * u64(0x94D049BB133111EB)
    x ^= x >> u64(31)
    return ((x >> u64(11)).astype(np.float64) + 0.5) / 2.0 ** 53


def normals(seed, n):
    """cmpNormal(seed, 0..n-1): Box–Muller of splitmix64 uniforms."""
    import numpy as np
    k = np.arange(n, dtype=np.uint64)
    u1 = _uniform(seed, 2 * k)
    u2 = _uniform(seed, 2 * k + np.uint64(1))
    return np.sqrt(-2 * np.log(u1)) * np.cos(2 * np.pi * u2)


def cmp_matrix(items=10_000, n_p=288, n_n=1152):
    """cmpMatrix: items × (P | N) post-ReLU values, item-major."""
    import numpy as np
    z = normals(7, items * (n_p + n_n)).reshape(items, n_p + n_n)
    z[:, :n_p] += 0.2
    z[:, n_p:] -= 0.2
    return np.maximum(z, 0, out=z)


def gen_large(m):
    """stats_test.go genLarge: a deterministic p-value vector."""
    import numpy as np
    i = np.arange(m, dtype=np.uint64)
    u = ((i * np.uint64(2654435761)) & np.uint64(0xFFFFFFFF)).astype(np.float64)
    u = (u + 0.5) / 2.0 ** 32
    k = m // 20
    u[:k] = (u[:k] * u[:k]) * (u[:k] * u[:k]) * 1e-4
    return u


# ---------------------------------------------------------------------------

def group_check():
    import numpy, scipy, statsmodels, sklearn, torch, torchvision, PIL  # noqa: F401
    print(json.dumps({"id": "versions", "python": sys.version.split()[0], "numpy": numpy.__version__,
                      "scipy": scipy.__version__, "statsmodels": statsmodels.__version__,
                      "sklearn": sklearn.__version__, "torch": torch.__version__,
                      "torchvision": torchvision.__version__, "PIL": PIL.__version__,
                      "omp": os.environ.get("OMP_NUM_THREADS", "")}))


def group_stats():
    import numpy as np
    from scipy import stats
    from statsmodels.stats.multitest import multipletests

    x = cmp_matrix()
    assert abs(x.sum() - 4995742.041024) < 1e-3 and int((x == 0).sum()) == 7883881, "inputs differ from Go's"
    P, N = x[:, :288], x[:, 288:]

    res = {}

    def mwu():  # ~5 s a call: no warm-up
        res["p"] = stats.mannwhitneyu(P, N, axis=1, alternative="greater", method="asymptotic").pvalue

    times = timeit(mwu, 3, warmup=0)
    emit("mwu10k", times, 1, p_sum="%.10g" % res["p"].sum())

    times = timeit(lambda: stats.ttest_ind(P, N, axis=1), 5, 3)
    emit("ttest10k", times, 3)
    del x, P, N

    p = gen_large(1_000_000)
    times = timeit(lambda: multipletests(p, alpha=0.05, method="fdr_bh"), 5)
    emit("fdr1e6", times, 1, rejected=int(multipletests(p, alpha=0.05, method="fdr_bh")[0].sum()))

    a = normals(11, 100_000)
    b = a + normals(12, 100_000)
    times = timeit(lambda: stats.spearmanr(a, b), 5, 3)
    emit("spearman1e5", times, 3, rho="%.10g" % stats.spearmanr(a, b).correlation)


def group_imaging():
    import torch
    from PIL import Image
    from torchvision import transforms as T

    torch.set_num_threads(1)
    path = os.path.join(ROOT, "testdata", "imaging", "gray1024.jpg")
    with open(path, "rb") as f:
        data = f.read()
    tf = T.Compose([T.Resize(256), T.CenterCrop(224), T.ToTensor(), T.Normalize([0.5] * 3, [0.5] * 3)])

    def one():
        im = Image.open(io.BytesIO(data)).convert("RGB")  # decodes
        return tf(im)

    assert tuple(one().shape) == (3, 224, 224)
    times = timeit(one, 5, 20)
    emit("pipeline1024", times, 20, threads=torch.get_num_threads(), bytes=len(data))


def metric_layer(n_images=1440, units=20_000):
    """writeCompareLayer / writeSynthetic's conv.arrow values (float32), bit
    for bit: per image row an xorshift64 stream, faces +0.5 in every 10th
    unit, ReLU."""
    import numpy as np
    u64 = np.uint64
    rows = np.arange(n_images, dtype=np.uint64)
    s = rows * u64(0x9E3779B97F4A7C15) + u64(1)
    c13, c7, c17, c40 = u64(13), u64(7), u64(17), u64(40)
    t = np.empty_like(s)
    hi = np.empty((units, n_images), dtype=np.uint64)  # unit-major while generating
    for i in range(units):
        np.left_shift(s, c13, out=t)
        s ^= t
        np.right_shift(s, c7, out=t)
        s ^= t
        np.left_shift(s, c17, out=t)
        s ^= t
        np.right_shift(s, c40, out=hi[i])
    hi = hi.T
    v = hi.astype(np.float32) / np.float32(1 << 24) * np.float32(2) - np.float32(1.2)
    face = np.arange(n_images) * 10 // n_images < 2  # adult, child
    v[np.ix_(face, np.arange(0, units, 10))] += np.float32(0.5)
    return np.maximum(v, np.float32(0))


def group_metric():
    import numpy as np
    from scipy import stats
    from statsmodels.stats.multitest import multipletests

    x32 = metric_layer()
    n_p, g = 288, 288  # faces first, then bodies, characters, objects, places

    def run():
        x = x32.astype(np.float64)
        P, N = x[:n_p], x[n_p:]
        mp, mn = P.mean(0), N.mean(0)
        den = np.abs(mp) + np.abs(mn)
        fsi = np.divide(mp - mn, den, out=np.zeros_like(den), where=den != 0)
        dp = (mp - mn) / np.sqrt((P.var(0) + N.var(0)) / 2)
        mw = stats.mannwhitneyu(P, N, axis=0, alternative="greater", method="asymptotic").pvalue
        tsel = np.ones(x.shape[1], bool)
        tmin = np.full(x.shape[1], np.inf)
        for k in range(4):
            t, pv = stats.ttest_ind(P, x[n_p + k * g:n_p + (k + 1) * g], axis=0)
            rej = multipletests(pv, alpha=0.05, method="fdr_bh")[0]
            tsel &= rej & (t > 0)
            tmin = np.minimum(tmin, t)
        return [int((fsi > 0.3).sum()), int((dp > 0.65).sum()), int((mw < 0.001).sum()), int(tsel.sum())]

    res = {}

    def once():  # ~5-15 s a call: no warm-up
        res["sel"] = run()

    times = timeit(once, 3, warmup=0)
    emit("metric_unit", times, 1, selected="fsi %d, dprime %d, wilcoxon %d, ttest %d" % tuple(res["sel"]))


def group_svm():
    import warnings
    import numpy as np
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import LinearSVC

    for d in (96, 512):
        # svm_test.go benchFit's design (its own generator: same distribution,
        # not the same draws): 100 identities × 10 images, image 0 is the test
        # image, row = 0.6·prototype + N(0, 1).
        rng = np.random.default_rng(3)
        ids, m = 100, 10
        proto = rng.standard_normal((ids, d))
        x = 0.6 * proto[:, None, :] + rng.standard_normal((ids, m, d))
        xtr = x[:, 1:].reshape(-1, d)
        ytr = np.repeat(np.arange(ids), m - 1)
        xte = x[:, 0]
        sc = StandardScaler().fit(xtr)
        xtr, xte = sc.transform(xtr), sc.transform(xte)
        state = {}

        def fit():
            with warnings.catch_warnings(record=True) as w:
                warnings.simplefilter("always", ConvergenceWarning)
                clf = LinearSVC().fit(xtr, ytr)  # C=1, squared hinge, dual, tol 1e-4, OvR
            state["iter"], state["warn"] = int(clf.n_iter_), len(w) > 0
            state["acc"] = float((clf.predict(xte) == np.arange(ids)).mean())

        # d512 takes ~30 s a fit here: one fit, no warm-up.
        reps, num, warm = (3, 1, 1) if d == 96 else (1, 1, 0)
        times = timeit(fit, reps, num, warm)
        emit("svm_d%d" % d, times, num, n_iter=state["iter"], not_converged=state["warn"], accuracy=state["acc"])


def group_lesion():
    import numpy as np
    import torch
    import torch.nn.functional as F
    import torchvision

    torch.set_num_threads(2)
    torch.manual_seed(0)

    def head_fn(model):
        pool, avg, cls = model.features[30], model.avgpool, model.classifier
        return lambda x: cls(torch.flatten(avg(pool(x)), 1))

    with torch.no_grad():
        # net BenchmarkLesion: 64 images, 1000 classes, one conv13 channel per
        # lesion, head recomputed from conv13 (post-ReLU) activations (the
        # channel is zeroed in place and restored afterwards).
        model = torchvision.models.vgg16().eval()
        head = head_fn(model)
        acts = torch.relu(torch.rand(64, 512, 14, 14) * 2 - 1)
        state = {"k": 0}

        def lesion64():
            k = state["k"] = (state["k"] + 1) % 512
            saved = acts[:, k].clone()
            acts[:, k] = 0
            head(acts)
            acts[:, k] = saved

        times = timeit(lesion64, 3, 3)
        emit("lesion64", times, 3, threads=torch.get_num_threads())
        del model, head, acts

        # lesion BenchmarkStudySize: 200 task images, 2137 classes, the head
        # plus the cross-entropy of the task labels, per lesion.
        model = torchvision.models.vgg16(num_classes=2137).eval()
        head = head_fn(model)
        acts = torch.relu(torch.rand(200, 512, 14, 14) * 2 - 1)
        labels = torch.from_numpy(np.random.default_rng(2).integers(0, 2137, 200))

        def lesion200():
            k = state["k"] = (state["k"] + 1) % 512
            saved = acts[:, k].clone()
            acts[:, k] = 0
            F.cross_entropy(head(acts), labels)
            acts[:, k] = saved

        times = timeit(lesion200, 3, 2)
        emit("lesion200", times, 2, threads=torch.get_num_threads())

        # The same job with the Go stage's algorithm (lesion
        # BenchmarkStudySize): fc6's input x and intact pre-activation z once,
        # then per group of 10 lesions (2000 rows) z − x[:, slice_k]·W6[:, slice_k]ᵀ
        # stacked, ReLU, fc7, ReLU, fc8 and each lesion's cross-entropy; the
        # time per lesion.
        fc6, fc7, fc8 = model.classifier[0], model.classifier[3], model.classifier[6]
        x = torch.flatten(model.avgpool(model.features[30](acts)), 1)
        z = fc6(x)
        group, p2 = 10, 49

        def lesions_stacked():
            k0 = state["k"] = (state["k"] + group) % 512
            ks = [(k0 + j) % 512 for j in range(group)]
            zs = torch.cat([torch.addmm(z, x[:, k * p2:(k + 1) * p2], fc6.weight[:, k * p2:(k + 1) * p2].t(), alpha=-1)
                            for k in ks])
            out = fc8(torch.relu(fc7(torch.relu(zs)))).view(group, 200, -1)
            for j in range(group):
                F.cross_entropy(out[j], labels)

        times = timeit(lesions_stacked, 3, 1)
        emit("lesion200stack", [t / group for t in times], 1, threads=torch.get_num_threads(), lesions_per_call=group)


def group_train():
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
    from torchvision.models.vgg import VGG, make_layers

    # net BenchmarkTrainStep: torchvision's VGG-16 with every conv width ÷ 8,
    # a 256-256 classifier in torchvision's Sequential layout (Dropout p = 0:
    # the Go trainer has none), 108 classes, batch 32 at 64 px; one step =
    # zero_grad, forward, cross-entropy, backward, SGD(0.01, momentum 0.9,
    # weight decay 1e-4).
    torch.set_num_threads(2)
    torch.manual_seed(0)
    cfg = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"]
    cfg = [v if v == "M" else v // 8 for v in cfg]
    model = VGG(make_layers(cfg), num_classes=108, init_weights=True)
    model.classifier = nn.Sequential(
        nn.Linear(cfg[-2] * 7 * 7, 256), nn.ReLU(True), nn.Dropout(0.0),
        nn.Linear(256, 256), nn.ReLU(True), nn.Dropout(0.0),
        nn.Linear(256, 108))
    model.train()
    x = torch.rand(32, 3, 64, 64) * 2 - 1
    y = torch.arange(32) * 37 % 108
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=1e-4)

    def step():
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()

    times = timeit(step, 5, 1)
    emit("train32", times, 1, threads=torch.get_num_threads(), images_per_s=32 / min(times))


GROUPS = {"check": group_check, "stats": group_stats, "imaging": group_imaging,
          "metric": group_metric, "svm": group_svm, "lesion": group_lesion,
          "train": group_train}

if __name__ == "__main__":
    names = sys.argv[1:] or [g for g in GROUPS if g != "check"]
    for name in names:
        if name not in GROUPS:
            sys.exit("ref.py: unknown group %r (have %s)" % (name, ", ".join(GROUPS)))
    for name in names:
        GROUPS[name]()
