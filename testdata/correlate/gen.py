#!/usr/bin/python3
"""Reference fixture for the correlate kind's bootstrap interval of rho
(mode values, bootstrap > 0): on the metric fixture's default case
(testdata/metric/fixtures.json), fsi against dprime per layer, B
resamplings of the items drawn as the Go code draws them (per layer a
splitmix64 stream from the seed, item i of a draw = item below(n),
../permutation/ref.py's SplitMix64), scipy.stats.spearmanr on each (+-Inf
clipped to +-1e300 first: the same ranks), and numpy.nanquantile at 0.025
and 0.975 of the draws' rho.

Run:  /usr/bin/python3 testdata/correlate/gen.py
Tested with scipy 1.10.1, numpy 1.24.2 (Debian 12).
"""

import json
import os
import sys

import numpy as np
import scipy.stats as ss

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "permutation"))
from ref import METRIC_FIXTURE, SplitMix64, dec, enc  # noqa: E402

B, SEED = 200, 3


def rho(x, y):
    x, y = np.clip(x, -1e300, 1e300), np.clip(y, -1e300, 1e300)
    if np.all(x == x[0]) or np.all(y == y[0]):
        return np.nan
    return float(ss.spearmanr(x, y).correlation)


def main():
    with open(METRIC_FIXTURE) as f:
        case = json.load(f)["cases"][0]
    assert case["name"] == "default"
    out = {"draws": B, "seed": SEED, "layers": []}
    for layer in sorted(case["layers"]):
        L = case["layers"][layer]
        x = np.array([dec(v) for v in L["fsi"]])
        y = np.array([dec(v) for v in L["dprime"]])
        r = SplitMix64(SEED)
        rhos = []
        for _ in range(B):
            pick = [r.below(len(x)) for _ in range(len(x))]
            rhos.append(rho(x[pick], y[pick]))
        lo, hi = np.nanquantile(rhos, [0.025, 0.975])
        out["layers"].append({"layer": layer, "rho_q025": lo, "rho_q975": hi})
    with open(os.path.join(HERE, "fixtures.json"), "w") as f:
        json.dump(enc(out), f, separators=(",", ":"))
        f.write("\n")
    print(out)


if __name__ == "__main__":
    main()
