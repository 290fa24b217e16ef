#!/usr/bin/env python3
"""PyTorch reference for bench/study.sh: the extract stage's job on one
network — N images at 224 px through a randomly initialised torchvision
VGG-16 in batches of 16, eval mode, no_grad, 2 threads, the post-ReLU maps
of conv2, conv4, conv7, conv10 and conv13 (features.3, .8, .15, .22, .29)
appended to one raw float32 file per layer in OUTDIR, fsynced at the end.
The images are uniform noise in [-1, 1] (the Go side reads its drawn
stimuli; the cost does not depend on the values). Prints one JSON line:
{"seconds": …, "images": N, "bytes": …, "threads": 2, "torch": …}.

Usage: /usr/bin/python3 bench/study_ref.py N OUTDIR
"""
import json
import os
import sys
import time

import torch
import torchvision

torch.set_num_threads(2)
n, outdir = int(sys.argv[1]), sys.argv[2]
taps = {"conv2": 3, "conv4": 8, "conv7": 15, "conv10": 22, "conv13": 29}
torch.manual_seed(0)
model = torchvision.models.vgg16().eval()
files = {name: open(os.path.join(outdir, name + ".f32"), "wb") for name in taps}
got = {}
for name, idx in taps.items():
    model.features[idx].register_forward_hook(lambda m, i, o, name=name: got.__setitem__(name, o))
start = time.perf_counter()
with torch.no_grad():
    for first in range(0, n, 16):
        b = min(16, n - first)
        x = torch.rand(b, 3, 224, 224) * 2 - 1
        model.features(x)  # the taps end at conv13's ReLU
        for name, f in files.items():
            f.write(got[name].contiguous().numpy().tobytes())
size = 0
for f in files.values():
    f.flush()
    os.fsync(f.fileno())
    size += f.tell()
    f.close()
print(json.dumps({"seconds": time.perf_counter() - start, "images": n, "bytes": size,
                  "threads": torch.get_num_threads(), "torch": torch.__version__}))
