#!/usr/bin/env python3
"""Reference fixtures for stages/internal/net: PyTorch forward passes of
torchvision's VGG-16, VGG-16-BN and AlexNet code with reduced widths.

The networks are torchvision's own classes (VGG with make_layers on a
reduced configuration "D"; AlexNet with each Conv2d/Linear replaced in
place by a narrower one), so module indices, state-dict names, the forward
code (features → AdaptiveAvgPool2d → flatten → classifier) and every layer
type are the real ones; only channel widths and hidden sizes shrink (÷16
and 4096 → 32), which keeps the fixtures small. Parameters are random
(seeded) and deliberately not torchvision's initialisation: non-zero biases,
non-trivial BatchNorm statistics and O(1) logits exercise every term.

Inputs are small and non-square so that AdaptiveAvgPool2d has to replicate
(1×1 → 7×7) or overlap bins (2 → 7, 3 → 6).

Each architecture gives one safetensors file:
  param/<state-dict name>  float32 parameters (no num_batches_tracked)
  input                    N×3×H×W images
  tap/<tap>                post-ReLU activations conv1…convN, fc6, fc7; logits
  lesion/<name>            logits of a lesioned network (see below)
and __metadata__ with arch, classes, batch, height, width.

shapes.json lists the floating-point state-dict entries of the full-size
torchvision models (1000 classes) with their shapes, for checking Spec.

Run: /usr/bin/python3 testdata/net/gen.py   (torch 1.13, torchvision 0.14)
"""
import copy
import json
import os
import struct

import torch
import torch.nn as nn
import torchvision
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
    # Same Sequential layout as torchvision's classifier (indices 0, 3, 6).
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


def images(n, h, w):
    g = torch.Generator().manual_seed(1234 + h * w)
    x = torch.rand(n, 3, h, w, generator=g) * 2 - 1
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, h), torch.linspace(-1, 1, w), indexing="ij")
    x[1, 0] = torch.sin(3 * xx + 2 * yy)
    x[1, 1] = torch.cos(5 * yy) * xx
    x[1, 2] = xx * yy
    return x


def taps(m, x):
    """Post-ReLU activations of every conv, fc6, fc7 and the logits, by
    walking the model's own modules in order, checked against m(x)."""
    xin, out = x, {}
    convs = 0
    pending = None
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


def lesioned(m, x, edits):
    """Logits after setting the named parameters' given output channel to 0
    (how the study's code lesions a kernel)."""
    m2 = copy.deepcopy(m)
    sd = m2.state_dict()
    with torch.no_grad():
        for name, k in edits:
            sd[name][k] = 0
        return m2(x)


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


def main():
    torch.manual_seed(0)
    cases = [
        # arch, model, input size, lesions {fixture name: [(param, channel), ...]}
        ("vgg16", randomise(reduced_vgg(False)), (64, 48), {
            "conv13.3": [("features.28.weight", 3), ("features.28.bias", 3)],
            "conv13.17": [("features.28.weight", 17), ("features.28.bias", 17)],
        }),
        ("vgg16_bn", randomise(reduced_vgg(True)), (32, 40), {
            # With BatchNorm the channel is zero after ReLU only if BN's affine
            # weight and bias are zeroed ...
            "conv13.5": [("features.41.weight", 5), ("features.41.bias", 5)],
            # ... zeroing the conv leaves ReLU(β − μ·γ/√(σ²+ε)), not 0.
            "conv13.5.convonly": [("features.40.weight", 5), ("features.40.bias", 5)],
        }),
        ("alexnet", randomise(reduced_alexnet()), (100, 67), {
            "conv5.2": [("features.10.weight", 2), ("features.10.bias", 2)],
        }),
    ]
    for arch, model, (h, w), lesions in cases:
        xin = images(2, h, w)
        tensors = {}
        for name, t in model.state_dict().items():
            if t.is_floating_point():
                tensors["param/" + name] = t
        tensors["input"] = xin
        for name, t in taps(model, xin).items():
            tensors["tap/" + name] = t
        for name, edits in lesions.items():
            tensors["lesion/" + name] = lesioned(model, xin, edits)
        save(os.path.join(OUT, arch + ".safetensors"), tensors,
             {"arch": arch, "classes": CLASSES, "batch": 2, "height": h, "width": w})

    shapes = {}
    for arch in ("vgg16", "vgg16_bn", "alexnet"):
        sd = getattr(torchvision.models, arch)().state_dict()
        shapes[arch] = [[k, list(v.shape)] for k, v in sd.items() if v.is_floating_point()]
    with open(os.path.join(OUT, "shapes.json"), "w") as f:
        f.write("{\n" + ",\n".join(
            '"%s": [\n  %s\n]' % (a, ",\n  ".join(json.dumps(e) for e in entries))
            for a, entries in shapes.items()) + "\n}\n")


if __name__ == "__main__":
    main()
