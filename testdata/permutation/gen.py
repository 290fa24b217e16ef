#!/usr/bin/python3
"""Reference fixture for stages/permutation: the permutation null recomputed with
numpy / scipy / statsmodels (ref.py) on the metric fixture's images and
layers (testdata/metric/fixtures.json: 56 images, 52 without the scrambled
ones; conv_a 192 units, conv_b 20 units, and their kernel-level means).

The permutations are redrawn from the seed as the Go code draws them
(stats.SplitMix64, Fisher-Yates from the end, one stream for all
permutations) and stored, so that the Go test checks its own draws too.
Under permutation pi, position j keeps its labels and takes the responses
of position pi[j]. For each case, layer, metric and permutation the fixture
holds the selected count and the distribution of the values for ranking
(numpy.nanmean and numpy.nanquantile at 0.05, 0.5, 0.95); per layer and
metric the observed count, the mean and 2.5/97.5 percentiles of the %
selected over the permutations and the permutation p
(1 + #{perm >= observed}) / (1 + P).

Run:  /usr/bin/python3 testdata/permutation/gen.py
Tested with scipy 1.10.1, statsmodels 0.13.5, numpy 1.24.2 (Debian 12).
"""

import json
import os
import warnings

import numpy as np

from ref import DEFAULTS, HERE, ORDER, SplitMix64, design, enc, layer_metrics, load

warnings.simplefilter("ignore")

CASES = [
    ("unit_default", "unit", 20, 7, {}),
    ("mean_variants", "mean", 30, 11,
     {"wilcoxon_test": "per_category", "ttest": "welch", "fdr": "by",
      "compare": "categories", "ddof": 1, "alpha": 0.01, "q": 0.2}),
    ("unit_ranksums_adult", "unit", 15, 3, {"wilcoxon_test": "ranksums", "preferred": "adult"}),
]


def permutations(m, P, seed):
    r = SplitMix64(seed)
    out = []
    for _ in range(P):
        a = list(range(m))
        r.shuffle(a)
        out.append(a)
    return out


def run_case(CAT, DOM, inputs, name, level, P, seed, params):
    pr = dict(DEFAULTS, **params)
    order, nP, groups, cats = design(CAT, DOM, pr)
    perms = permutations(len(order), P, seed)
    case = {"name": name, "input": level, "permutations": P, "seed": seed, "params": params,
            "perms": perms, "null": [], "summary": []}
    for lname in sorted(inputs[level]):
        X = inputs[level][lname][order]  # positions x items
        obs = layer_metrics(X, pr, nP, groups, cats)
        items = X.shape[1]
        counts = {m: [] for m in obs}
        for b, pi in enumerate(perms):
            res = layer_metrics(X[pi], pr, nP, groups, cats)
            for m in ORDER:
                if m not in res:
                    continue
                v, sel = res[m]
                k = int(sel.sum())
                counts[m].append(k)
                q = np.nanquantile(v, [0.05, 0.5, 0.95]) if not np.all(np.isnan(v)) else [np.nan] * 3
                case["null"].append({"layer": lname, "metric": m, "permutation": b, "items": items,
                                     "selected": k, "mean": np.nanmean(v), "q05": q[0], "q50": q[1], "q95": q[2]})
        for m in ORDER:
            if m not in obs:
                continue
            k = int(obs[m][1].sum())
            pct = 100.0 * np.array(counts[m]) / items
            lo, hi = np.nanquantile(pct, [0.025, 0.975])
            case["summary"].append({
                "layer": lname, "metric": m, "items": items, "observed": k,
                "observed_percent": 100.0 * k / items, "mean_percent": float(np.mean(pct)),
                "q025": lo, "q975": hi,
                "p": (1 + sum(c >= k for c in counts[m])) / (1 + P)})
    return case


def main():
    CAT, DOM, inputs = load()
    out = {"cases": [run_case(CAT, DOM, inputs, *c) for c in CASES]}
    with open(os.path.join(HERE, "fixtures.json"), "w") as f:
        json.dump(enc(out), f, separators=(",", ":"))
        f.write("\n")
    for c in out["cases"]:
        print(c["name"], " ".join(f'{s["layer"]}/{s["metric"]}={s["observed"]}:{s["mean_percent"]:.2f}%,p={s["p"]:.3f}'
                                  for s in c["summary"]))


if __name__ == "__main__":
    main()
