#!/usr/bin/env python3
"""Reference fixtures for stages/internal/net's ResNets: PyTorch forward passes
of torchvision's ResNet-18, -34 and -50 code with widths ÷ 16.

The networks are torchvision's own ResNet class, BasicBlock, Bottleneck and
_make_layer; only the base width shrinks (64 → 4 channels, so layer4 of
ResNet-50 has 128), which keeps the fixtures small. Module names, the
forward code and every layer type are the real ones. Parameters are random
(seeded) and deliberately not torchvision's initialisation: non-trivial
BatchNorm weights, biases and running statistics exercise every term of
the folding.

Inputs are small and of odd, non-square sizes so that the strided
convolutions and the padded max pooling meet uneven borders.

Each architecture gives one safetensors file (the layout of gen.py):
  param/<state-dict name>  float32 parameters (no num_batches_tracked)
  input                    N×3×H×W images
  tap/<tap>                conv1 (after the stem's ReLU, before the max
                           pooling), layerS.B (each block), layerS (each
                           stage), avgpool (flattened), logits
and __metadata__ with arch, classes, batch, height, width. resnet18.pt is
the same ResNet-18's bare state dict as torch.save writes it (zip format,
with BatchNorm's integer num_batches_tracked), for the model stage's loader.

shapes_resnet.json lists the floating-point state-dict entries of the
full-size torchvision models (1000 classes), for checking Spec.

Run: /usr/bin/python3 testdata/net/gen_resnet.py   (torch 1.13, torchvision 0.14)
"""
import json
import os

import torch
import torch.nn as nn
import torchvision
from torchvision.models.resnet import BasicBlock, Bottleneck, ResNet

from gen import images, save

OUT = os.path.dirname(os.path.abspath(__file__))
CLASSES = 10
DIV = 16


class NarrowResNet(ResNet):
    """torchvision's ResNet.__init__ with every width divided by DIV."""

    def __init__(self, block, layers):
        nn.Module.__init__(self)
        self._norm_layer = nn.BatchNorm2d
        base = 64 // DIV
        self.inplanes, self.dilation, self.groups, self.base_width = base, 1, 1, 64
        self.conv1 = nn.Conv2d(3, base, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(base)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(block, base, layers[0])
        self.layer2 = self._make_layer(block, 2 * base, layers[1], stride=2)
        self.layer3 = self._make_layer(block, 4 * base, layers[2], stride=2)
        self.layer4 = self._make_layer(block, 8 * base, layers[3], stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(8 * base * block.expansion, CLASSES)


def randomise(m):
    with torch.no_grad():
        for mod in m.modules():
            if isinstance(mod, nn.Conv2d):
                fan_in = mod.in_channels * mod.kernel_size[0] * mod.kernel_size[1]
                mod.weight.normal_(0, (2.0 / fan_in) ** 0.5)
            elif isinstance(mod, nn.Linear):
                mod.weight.normal_(0, (2.0 / mod.in_features) ** 0.5)
                mod.bias.uniform_(-0.1, 0.1)
            elif isinstance(mod, nn.BatchNorm2d):
                mod.weight.uniform_(0.5, 1.5)
                mod.bias.normal_(0, 0.1)
                mod.running_mean.normal_(0, 0.1)
                mod.running_var.uniform_(0.5, 2.0)
    return m.eval()


def taps(m, x):
    """Every tap by walking the model's own modules, checked against m(x)."""
    xin, out = x, {}
    with torch.no_grad():
        x = m.relu(m.bn1(m.conv1(x)))
        out["conv1"] = x.clone()
        x = m.maxpool(x)
        for s in range(1, 5):
            for b, block in enumerate(getattr(m, "layer%d" % s)):
                x = block(x)
                out["layer%d.%d" % (s, b)] = x.clone()
            out["layer%d" % s] = x.clone()
        x = torch.flatten(m.avgpool(x), 1)
        out["avgpool"] = x.clone()
        out["logits"] = m.fc(x)
        full = m(xin)
    assert torch.equal(full, out["logits"]), "module walk differs from forward()"
    return out


torch.manual_seed(15)
cases = [
    ("resnet18", BasicBlock, [2, 2, 2, 2], (67, 61)),
    ("resnet34", BasicBlock, [3, 4, 6, 3], (64, 48)),
    ("resnet50", Bottleneck, [3, 4, 6, 3], (64, 64)),
]
for arch, block, layers, (h, w) in cases:
    model = randomise(NarrowResNet(block, layers))
    xin = images(2, h, w)
    tensors = {}
    for name, t in model.state_dict().items():
        if t.is_floating_point():
            tensors["param/" + name] = t
    tensors["input"] = xin
    for name, t in taps(model, xin).items():
        tensors["tap/" + name] = t
    if arch == "resnet18":
        torch.save(model.state_dict(), os.path.join(OUT, arch + ".pt"))
    save(os.path.join(OUT, arch + ".safetensors"), tensors,
         {"arch": arch, "classes": CLASSES, "batch": 2, "height": h, "width": w})

shapes = {}
for arch, _, _, _ in cases:
    sd = getattr(torchvision.models, arch)().state_dict()
    shapes[arch] = [[k, list(v.shape)] for k, v in sd.items() if v.is_floating_point()]
with open(os.path.join(OUT, "shapes_resnet.json"), "w") as f:
    f.write("{\n" + ",\n".join(
        '"%s": [\n  %s\n]' % (a, ",\n  ".join(json.dumps(e) for e in entries))
        for a, entries in shapes.items()) + "\n}\n")
