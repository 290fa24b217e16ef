#!/usr/bin/env python3
"""Reference fixtures for stages/internal/net's training (train.go): PyTorch
autograd and torch.optim.SGD on reduced torchvision networks.

The networks are torchvision's own classes with reduced widths, exactly as
testdata/net/gen.py builds them (VGG: make_layers on configuration "D" with
every width ÷ 32 and a 16-16 classifier in torchvision's Sequential layout;
AlexNet: each Conv2d/Linear replaced in place by a narrower one), with
seeded random parameters (fan-in normal weights, non-zero biases). They are
put in train() mode with every Dropout's p set to 0, since the Go trainer
has no Dropout. The inputs are non-square and small, so AdaptiveAvgPool2d
upsamples (VGG: a 2×1 map pooled to 7×7; AlexNet: 1×1 to 6×6) and many
ReLU outputs are 0, giving max-pooling windows with tied maxima.

Each architecture gives one safetensors file (float32 only):
  param/<name>   the initial state dict
  input          N×3×H×W images
  loss           [loss of step 1, loss of step 2] (mean cross-entropy)
  grad/<name>    the gradient of step 1's loss
  step2/<name>   the parameters after two SGD steps on the same batch
and __metadata__ with arch, classes, batch, height, width, labels (comma
separated), lr, momentum, weight_decay.

Run: /usr/bin/python3 testdata/train/gen.py   (torch 1.13, torchvision 0.14)
"""
import json
import os
import struct

import torch
import torch.nn as nn
import torch.nn.functional as F
from torchvision.models import AlexNet
from torchvision.models.vgg import VGG, make_layers

OUT = os.path.dirname(os.path.abspath(__file__))
CLASSES = 10
HIDDEN = 16
BATCH = 4
LABELS = [3, 7, 0, 9]
LR, MOMENTUM, WD = 0.01, 0.9, 1e-4
CFG_D = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"]


def reduced_vgg():
    cfg = [v if v == "M" else v // 32 for v in CFG_D]
    m = VGG(make_layers(cfg, batch_norm=False), num_classes=CLASSES, init_weights=True)
    m.classifier = nn.Sequential(
        nn.Linear(cfg[-2] * 7 * 7, HIDDEN), nn.ReLU(True), nn.Dropout(),
        nn.Linear(HIDDEN, HIDDEN), nn.ReLU(True), nn.Dropout(),
        nn.Linear(HIDDEN, CLASSES))
    return m


def reduced_alexnet():
    m = AlexNet(num_classes=CLASSES)
    f, c = m.features, m.classifier
    f[0] = nn.Conv2d(3, 4, kernel_size=11, stride=4, padding=2)
    f[3] = nn.Conv2d(4, 12, kernel_size=5, padding=2)
    f[6] = nn.Conv2d(12, 24, kernel_size=3, padding=1)
    f[8] = nn.Conv2d(24, 16, kernel_size=3, padding=1)
    f[10] = nn.Conv2d(16, 16, kernel_size=3, padding=1)
    c[1] = nn.Linear(16 * 6 * 6, HIDDEN)
    c[4] = nn.Linear(HIDDEN, HIDDEN)
    c[6] = nn.Linear(HIDDEN, CLASSES)
    return m


def randomise(m):
    with torch.no_grad():
        for mod in m.modules():
            if isinstance(mod, nn.Conv2d):
                fan_in = mod.in_channels * mod.kernel_size[0] * mod.kernel_size[1]
                mod.weight.normal_(0, (2.0 / fan_in) ** 0.5)
                mod.bias.uniform_(-0.1, 0.1)
            elif isinstance(mod, nn.Linear):
                mod.weight.normal_(0, (2.0 / mod.in_features) ** 0.5)
                mod.bias.uniform_(-0.1, 0.1)
            elif isinstance(mod, nn.Dropout):
                mod.p = 0.0
    return m.train()


def save(path, tensors, meta):
    header, blobs, off = {"__metadata__": {k: str(v) for k, v in meta.items()}}, [], 0
    for name, t in tensors.items():
        b = t.detach().contiguous().to(torch.float32).numpy().astype("<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)
    print("%s: %d bytes" % (path, 8 + len(h) + off))


torch.manual_seed(0)
for arch, model, (h, w) in [("vgg16", randomise(reduced_vgg()), (64, 48)),
                            ("alexnet", randomise(reduced_alexnet()), (63, 67))]:
    g = torch.Generator().manual_seed(4321 + h * w)
    x = torch.rand(BATCH, 3, h, w, generator=g) * 2 - 1
    y = torch.tensor(LABELS)
    tensors = {"param/" + k: v.clone() for k, v in model.state_dict().items()}
    tensors["input"] = x
    opt = torch.optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM, weight_decay=WD)
    losses = []
    for step in range(2):
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        losses.append(loss.item())
        if step == 0:
            for k, p in model.named_parameters():
                tensors["grad/" + k] = p.grad.clone()
        opt.step()
    tensors["loss"] = torch.tensor(losses)
    for k, v in model.state_dict().items():
        tensors["step2/" + k] = v.clone()
    save(os.path.join(OUT, arch + ".safetensors"), tensors,
         {"arch": arch, "classes": CLASSES, "batch": BATCH, "height": h, "width": w,
          "labels": ",".join(map(str, LABELS)), "lr": LR, "momentum": MOMENTUM, "weight_decay": WD})
