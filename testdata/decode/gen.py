#!/usr/bin/python3
"""Reference fixtures for stages/decode and stages/decode/svm.

Draws a small seeded identity set: 12 identities x 5 images x 40 kernel-level
features (positive, float32 values like l2-aggregated activations) in which
the first 16 features carry identity information and the rest is noise, at a
signal level where leave-one-image-out accuracy is well above chance and well
below 100 %. It also draws per-kernel values of the four metrics (with ties
and a NaN, to exercise the ranking rule) and their selected flags.

For each feature set — every metric's top-N kernels and all kernels — and for
each leave-one-image-out fold (fold k tests the k-th image of every identity
and trains on the other M-1), it runs exactly the decode stage's procedure
with scikit-learn:

    StandardScaler().fit(train)  ->  LinearSVC(random_state=0).fit(...)
    decision_function(test), predict(test), accuracy

LinearSVC's other arguments are its defaults (penalty l2, loss squared_hinge,
dual True, C 1, tol 1e-4, fit_intercept True, intercept_scaling 1,
max_iter 1000, one-vs-rest); random_state only fixes LIBLINEAR's
coordinate order, so that the fixture is reproducible. Per feature set it
also writes mean accuracy, sample SD (ddof 1) and the 95 % CI
mean +- scipy.stats.t.ppf(0.975, M-1) * SD / sqrt(M); for "all" fold 0 it
writes coef_ and intercept_ (and the standardised training data's shape).

Ranking rule (the decode stage's): a metric's top-N kernels are those with
the largest values, ties broken by the smaller kernel index, NaN last.
N = the smallest number of kernels any metric selects.

A second, binary problem (identities 0 and 1 only, all features) checks
LIBLINEAR's two-class convention (one weight vector, positive = the larger
label).

Writes fixtures.json next to this script. Floats are written with repr
(shortest round trip); NaN as the string "NaN".

Run: /usr/bin/python3 testdata/decode/gen.py
Tested with scikit-learn 1.2.1, scipy 1.10.1, numpy 1.24.2 (Debian 12).
"""

import json
import os

import numpy as np
import scipy.stats
import sklearn
from sklearn.preprocessing import StandardScaler
from sklearn.svm import LinearSVC

OUT = os.path.dirname(os.path.abspath(__file__))
IDS, M, F, INFORMATIVE = 12, 5, 40, 16
METRICS = ["fsi", "dprime", "wilcoxon", "ttest"]

rng = np.random.default_rng(20240611)

# Features: identity prototypes on the informative features, image noise on
# all of them, exponentiated to positive values; stored as float32.
proto = np.zeros((IDS, F))
proto[:, :INFORMATIVE] = rng.normal(0, 1.0, (IDS, INFORMATIVE))
scale = np.exp(rng.normal(0, 0.7, F))  # features on different scales
X = np.empty((IDS * M, F))
ident = np.empty(IDS * M, dtype=int)
img = np.empty(IDS * M, dtype=int)
for i in range(IDS):
    for k in range(M):
        r = i * M + k
        X[r] = scale * np.exp(0.45 * (proto[i] + rng.normal(0, 1.0, F)))
        ident[r] = i
        img[r] = k
X = X.astype(np.float32).astype(np.float64)
# A constant feature: StandardScaler's zero-variance rule (scale 1).
X[:, F - 1] = np.float32(2.5)

# Metric values: informative kernels tend to rank high; ties and a NaN.
values, selected = {}, {}
for m, nsel in zip(METRICS, [14, 12, 20, 10]):
    v = rng.normal(0, 1, F)
    v[:INFORMATIVE] += rng.uniform(0, 2, INFORMATIVE)
    v = np.round(v, 1)  # many ties
    if m == "dprime":
        v[3] = np.nan
    s = np.zeros(F, dtype=bool)
    s[rng.choice(F, nsel, replace=False)] = True  # flags only count
    values[m], selected[m] = v, s
N = min(int(selected[m].sum()) for m in METRICS)


def top(v, n):
    key = np.where(np.isnan(v), -np.inf, v)
    order = np.lexsort((np.arange(len(v)), -key))
    # NaN (-inf key) ties with nothing real; among NaNs index order.
    return [int(j) for j in order[:n]]


def decode(cols, ids=None):
    """Leave-one-image-out decoding on the given columns (and identities)."""
    rows_all = np.arange(IDS * M) if ids is None else np.flatnonzero(np.isin(ident, ids))
    folds = []
    for k in range(M):
        test = rows_all[img[rows_all] == k]
        train = rows_all[img[rows_all] != k]
        sc = StandardScaler().fit(X[np.ix_(train, cols)])
        xtr = sc.transform(X[np.ix_(train, cols)])
        xte = sc.transform(X[np.ix_(test, cols)])
        clf = LinearSVC(random_state=0).fit(xtr, ident[train])
        dec = clf.decision_function(xte)
        pred = clf.predict(xte)
        acc = float(np.mean(pred == ident[test]))
        folds.append({
            "test": [int(t) for t in test],
            "decision": dec.tolist(),
            "predicted": [int(p) for p in pred],
            "accuracy": acc,
            "n_iter": int(np.max(clf.n_iter_)),
            "coef": clf.coef_.tolist(),
            "intercept": clf.intercept_.tolist(),
        })
    acc = np.array([f["accuracy"] for f in folds])
    mean, sd = acc.mean(), acc.std(ddof=1)
    h = scipy.stats.t.ppf(0.975, M - 1) * sd / np.sqrt(M)
    return {"kernels": [int(c) for c in cols], "folds": folds,
            "mean": float(mean), "sd": float(sd),
            "ci_low": float(mean - h), "ci_high": float(mean + h)}


sets = {}
for m in METRICS:
    sets[m] = decode(top(values[m], N))
sets["all"] = decode(list(range(F)))
binary = decode(list(range(F)), ids=[0, 1])
# Keep coef only where the tests use it (size).
for name, s in sets.items():
    for k, f in enumerate(s["folds"]):
        if not (name == "all" and k == 0):
            del f["coef"], f["intercept"]


def enc(x):
    if isinstance(x, float) and np.isnan(x):
        return "NaN"
    return x


out = {
    "sklearn": sklearn.__version__,
    "identities": IDS, "images_per_identity": M, "features": F,
    "identity": [int(i) for i in ident], "image": [int(k) for k in img],
    "x": X.tolist(),
    "values": {m: [enc(float(x)) for x in values[m]] for m in METRICS},
    "selected": {m: [bool(b) for b in selected[m]] for m in METRICS},
    "top_n": N,
    "chance": 1.0 / IDS,
    "sets": sets,
    "binary": binary,
}
with open(os.path.join(OUT, "fixtures.json"), "w") as f:
    json.dump(out, f, separators=(",", ":"))
for name, s in sets.items():
    print(f"{name:9s} N={len(s['kernels']):2d} acc={[f['accuracy'] for f in s['folds']]} "
          f"mean={s['mean']:.3f} CI=[{s['ci_low']:.3f}, {s['ci_high']:.3f}] "
          f"iters={[f['n_iter'] for f in s['folds']]}")
print("binary", [f["accuracy"] for f in binary["folds"]])
