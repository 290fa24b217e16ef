#!/usr/bin/env python3
"""Fixtures for stages/model and stages/extract: reduced-width torchvision
networks saved as PyTorch checkpoints the way people hold them, with
PyTorch's activations at every tap for a few 8-bit images.

The networks are those of testdata/net/gen.py (torchvision's own VGG and
AlexNet classes with channel widths ÷16 and 4096 → 32 hidden units, random
non-zero biases and BatchNorm statistics), so only the widths differ from
the real models; the stage reads them with `widths: any`.

For each architecture:
  <ckpt>               the checkpoint, in one of the wrappings the study meets:
    vgg16.pth.tar        zip torch.save of {'epoch', 'arch', 'state_dict'
                         (DataParallel: module.-prefixed), 'optimizer',
                         'best_acc1' (a numpy scalar)} — the study's epoch_NN.pth.tar
    vgg16_bn.pth         legacy torch.save of {'epoch', 'model_state_dict'}
                         (with BatchNorm's integer num_batches_tracked)
    alexnet.pt           zip torch.save of the bare state dict
  <arch>.ref.safetensors
    pixels               N×C×S×S 8-bit pixel values (as float32), C = 3, or 1
                         for vgg16_bn (gray, replicated to RGB as the stimuli
                         stage does)
    tap/<tap>            PyTorch's post-ReLU activations conv1…convN, fc6,
                         fc7 and the logits for the pixels after ToTensor and
                         Normalize(0.5, 0.5)
    __metadata__         arch, classes, n, channels, size, checkpoint

Run: /usr/bin/python3 testdata/extract/gen.py   (torch 1.13, torchvision 0.14)
"""
import json
import os
import struct

import numpy as np
import torch
import torch.nn as nn
import torchvision.transforms.functional as TF
from torchvision.models import AlexNet
from torchvision.models.vgg import VGG, make_layers

OUT = os.path.dirname(os.path.abspath(__file__))
CLASSES = 10
HIDDEN = 32
CFG_D = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"]


def reduced_vgg(bn):
    cfg = [v if v == "M" else v // 16 for v in CFG_D]
    m = VGG(make_layers(cfg, batch_norm=bn), num_classes=CLASSES, init_weights=True)
    last = cfg[-2]
    m.classifier = nn.Sequential(
        nn.Linear(last * 7 * 7, HIDDEN), nn.ReLU(True), nn.Dropout(),
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
            elif isinstance(mod, nn.BatchNorm2d):
                mod.weight.uniform_(0.5, 1.5)
                mod.bias.normal_(0, 0.1)
                mod.running_mean.normal_(0, 0.1)
                mod.running_var.uniform_(0.5, 2.0)
    return m.eval()


def pixels(n, c, s, seed):
    """8-bit images: noise over smooth gradients, so every tap is busy."""
    g = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(torch.linspace(0, 1, s), torch.linspace(0, 1, s), indexing="ij")
    x = torch.rand(n, c, s, s, generator=g) * 120
    for i in range(n):
        for ch in range(c):
            x[i, ch] += 130 * torch.sin(3.0 * (i + 1) * xx + (ch + 1) * yy) ** 2
    return x.clamp(0, 255).round().to(torch.uint8)


def tensor(pix):
    x = pix.float().div(255)                 # ToTensor
    if x.shape[1] == 1:
        x = x.expand(-1, 3, -1, -1).contiguous()
    return TF.normalize(x, [0.5] * 3, [0.5] * 3)


def taps(m, x):
    xin, out, convs, pending = x, {}, 0, None
    with torch.no_grad():
        for mod in m.features:
            x = mod(x)
            if isinstance(mod, nn.Conv2d):
                convs += 1
                pending = "conv%d" % convs
            elif isinstance(mod, nn.ReLU):
                out[pending] = x.clone()
        x = torch.flatten(m.avgpool(x), 1)
        fcs = 0
        for mod in m.classifier:
            x = mod(x)
            if isinstance(mod, nn.Linear):
                fcs += 1
            elif isinstance(mod, nn.ReLU):
                out["fc%d" % (fcs + 5)] = x.clone()
        out["logits"] = x.clone()
        full = m(xin)
    assert torch.equal(full, out["logits"]), "module walk differs from forward()"
    return out


def save_safetensors(path, tensors, meta):
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


torch.manual_seed(1)
cases = [
    # arch, model, channels of the pixels, size
    ("vgg16", randomise(reduced_vgg(False)), 3, 40),
    ("vgg16_bn", randomise(reduced_vgg(True)), 1, 36),
    ("alexnet", randomise(reduced_alexnet()), 3, 80),
]
for k, (arch, model, c, s) in enumerate(cases):
    pix = pixels(3, c, s, 99 + k)
    if arch == "vgg16":
        name = "vgg16.pth.tar"
        opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
        obj = {"epoch": 7, "arch": "vgg16",
               "state_dict": nn.DataParallel(model).state_dict(),
               "optimizer": opt.state_dict(), "best_acc1": np.float64(41.5)}
        torch.save(obj, os.path.join(OUT, name))
    elif arch == "vgg16_bn":
        name = "vgg16_bn.pth"
        torch.save({"epoch": 3, "model_state_dict": model.state_dict()},
                   os.path.join(OUT, name), _use_new_zipfile_serialization=False)
    else:
        name = "alexnet.pt"
        torch.save(model.state_dict(), os.path.join(OUT, name))
    print("%s: %d bytes" % (name, os.path.getsize(os.path.join(OUT, name))))
    tensors = {"pixels": pix.float()}
    for tap, t in taps(model, tensor(pix)).items():
        tensors["tap/" + tap] = t
    save_safetensors(os.path.join(OUT, arch + ".ref.safetensors"), tensors,
                     {"arch": arch, "classes": CLASSES, "n": 3, "channels": c, "size": s,
                      "checkpoint": name})
