#!/usr/bin/env python3
"""PyTorch CPU reference timing for stages/internal/net's BenchmarkVGG16Forward
and BenchmarkResNet50Forward: a torchvision model (default vgg16; random
init, 1000 classes), eval mode, no_grad, a batch of 8 images at 224 px
through to the logits, 2 threads. Prints one JSON line: {"images_per_s": …,
"seconds_per_batch": …, "threads": 2, "torch": …}.

Usage: /usr/bin/python3 testdata/net/bench.py [batch] [size] [repeats] [arch]
"""
import json
import sys
import time

import torch
import torchvision

torch.set_num_threads(2)
batch = int(sys.argv[1]) if len(sys.argv) > 1 else 8
size = int(sys.argv[2]) if len(sys.argv) > 2 else 224
repeats = int(sys.argv[3]) if len(sys.argv) > 3 else 3
arch = sys.argv[4] if len(sys.argv) > 4 else "vgg16"

torch.manual_seed(0)
model = getattr(torchvision.models, arch)().eval()
x = torch.rand(batch, 3, size, size) * 2 - 1
with torch.no_grad():
    model(x)  # warm-up
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        model(x)
        best = min(best, time.perf_counter() - t)
print(json.dumps({"images_per_s": batch / best, "seconds_per_batch": best,
                  "threads": torch.get_num_threads(), "torch": torch.__version__}))
