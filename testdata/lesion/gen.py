#!/usr/bin/python3
"""Reference fixtures for stages/lesion: PyTorch's cross-entropy loss and
accuracy of a network with one kernel (or a set of kernels) lesioned.

The networks are the reduced-width checkpoints of testdata/extract (see its
gen.py): vgg16.pth.tar (conv13 has 32 channels, 10 classes) and
vgg16_bn.pth (BatchNorm). The task images are 8-bit pixels drawn here; each
image's class index comes from a name (identity "id001"…, or an object
category) through a class map, the way the lesion stage reads them. Labels
are the intact network's own prediction for about two thirds of the images
and another class for the rest, so that the intact accuracy is neither 0 nor
1 and lesions can change it.

Lesioning kernel k of a layer = its output channel is zero after the ReLU
(science.md). In PyTorch: the conv's weight[k] and bias[k] set to 0 (the
study's code) for VGG-16; with BatchNorm, the BN's weight[k] and bias[k]
(zeroing the conv alone would leave ReLU(beta - mu*gamma/sigma)).

Loss = torch.nn.CrossEntropyLoss() (mean over images, natural log, over the
full output head) in float32; accuracy = mean(argmax(logits) == label).

Per network it writes, for the face task (and for vgg16 also an object
task):
  intact                       loss, accuracy
  conv13[k]                    loss, accuracy with kernel k lesioned (every k)
  conv10 (vgg16)               a few kernels of a middle layer (general path)
  greedy (vgg16, face task)    Dobs et al.'s greedy lesioning as the stage
                               does it, group_size 2, 3 steps: at each step
                               every kernel not yet lesioned is tried added
                               to the current set, the 2 whose trial losses
                               are largest (ties: smaller index) join it,
                               and the new set is re-tested on every task.

Pixels are stored base64-encoded (N×C×S×S uint8, CHW). Floats are written
with repr (float64 of PyTorch's float32 results).

Run: /usr/bin/python3 testdata/lesion/gen.py   (torch 1.13)
"""
import base64
import copy
import json
import os

import torch
import torch.nn as nn
import torchvision.transforms.functional as TF
from torchvision.models.vgg import VGG, make_layers

HERE = os.path.dirname(os.path.abspath(__file__))
EXTRACT = os.path.join(HERE, "..", "extract")
CLASSES, HIDDEN = 10, 32
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


def load(arch):
    if arch == "vgg16":
        obj = torch.load(os.path.join(EXTRACT, "vgg16.pth.tar"), map_location="cpu")
        sd = {k[len("module."):]: v for k, v in obj["state_dict"].items()}
        m = reduced_vgg(False)
    else:
        obj = torch.load(os.path.join(EXTRACT, "vgg16_bn.pth"), map_location="cpu")
        sd = obj["model_state_dict"]
        m = reduced_vgg(True)
    m.load_state_dict(sd)
    return m.eval()


def conv_index(m, layer):
    """features index of conv<layer>'s Conv2d and of the module to zero."""
    convs = [i for i, mod in enumerate(m.features) if isinstance(mod, nn.Conv2d)]
    i = convs[layer - 1]
    bn = isinstance(m.features[i + 1], nn.BatchNorm2d)
    return i + 1 if bn else i


def pixels(n, c, s, seed):
    g = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(torch.linspace(0, 1, s), torch.linspace(0, 1, s), indexing="ij")
    x = torch.rand(n, c, s, s, generator=g) * 110
    for i in range(n):
        for ch in range(c):
            x[i, ch] += 140 * torch.sin((1.3 + 0.7 * i) * xx + (ch + 1 + 0.3 * i) * yy) ** 2
    return x.clamp(0, 255).round().to(torch.uint8)


def tensor(pix):
    x = pix.float().div(255)
    if x.shape[1] == 1:
        x = x.expand(-1, 3, -1, -1).contiguous()
    return TF.normalize(x, [0.5] * 3, [0.5] * 3)


def evaluate(m, x, labels, lesions=()):
    """Loss and accuracy with the given (layer, kernel) lesions."""
    m2 = copy.deepcopy(m)
    with torch.no_grad():
        for layer, k in lesions:
            mod = m2.features[conv_index(m2, layer)]
            mod.weight[k] = 0
            mod.bias[k] = 0
        logits = m2(x)
        loss = nn.CrossEntropyLoss()(logits, labels)
        acc = (logits.argmax(1) == labels).float().mean()
    return {"loss": float(loss.item()), "accuracy": float(acc.item())}


def task(m, n, c, s, seed, names, kind):
    pix = pixels(n, c, s, seed)
    x = tensor(pix)
    with torch.no_grad():
        pred = m(x).argmax(1)
    g = torch.Generator().manual_seed(seed + 1)
    # name -> class: a shuffled map over the classes
    perm = torch.randperm(CLASSES, generator=g).tolist()
    class_map = {nm: perm[j] for j, nm in enumerate(names)}
    inv = {v: k for k, v in class_map.items()}
    img_names = []
    for i in range(n):
        cls = int(pred[i]) if i % 3 != 2 else int((pred[i] + 1 + i) % CLASSES)
        if cls not in inv:  # keep every name in the map
            cls = perm[i % len(names)]
        img_names.append(inv[cls])
    labels = torch.tensor([class_map[nm] for nm in img_names])
    return {
        "n": n, "channels": c, "size": s, "kind": kind,
        "pixels": base64.b64encode(pix.numpy().tobytes()).decode(),
        "names": img_names, "class_map": class_map,
        "labels": labels.tolist(),
    }, x, labels


def greedy(m, layer, tasks, steps, group):
    x0, y0 = tasks[0]
    chans = m.features[conv_index(m, layer)].weight.shape[0]
    current, out = [], []
    for step in range(1, steps + 1):
        trials = []
        for k in range(chans):
            if k in current:
                continue
            r = evaluate(m, x0, y0, [(layer, j) for j in current + [k]])
            trials.append((-r["loss"], k, r["loss"]))
        trials.sort()
        gaps = [trials[i][0] - trials[i - 1][0] for i in range(1, min(len(trials), group + 1))]
        chosen = [k for _, k, _ in trials[:group]]
        current += chosen
        retest = [evaluate(m, x, y, [(layer, j) for j in current]) for x, y in tasks]
        out.append({"step": step, "kernels": chosen,
                    "trial_loss": [l for _, _, l in trials[:group]],
                    "min_gap": min(abs(g) for g in gaps) if gaps else None,
                    "tasks": retest})
    return out


torch.manual_seed(3)
ids = ["id%03d" % (i + 1) for i in range(CLASSES)]
objects = ["car", "house", "instrument", "corridor", "body", "limb", "word", "number", "adult", "child"]
out = {"torch": torch.__version__}
for arch, c, s in [("vgg16", 3, 40), ("vgg16_bn", 1, 36)]:
    m = load(arch)
    chans = m.features[conv_index(m, 13)].weight.shape[0]
    face, xf, yf = task(m, 12, c, s, 11, ids, "identity")
    face["intact"] = evaluate(m, xf, yf)
    face["conv13"] = [evaluate(m, xf, yf, [(13, k)]) for k in range(chans)]
    entry = {"checkpoint": "vgg16.pth.tar" if arch == "vgg16" else "vgg16_bn.pth",
             "conv13_channels": chans, "face": face}
    if arch == "vgg16":
        face["conv10"] = {str(k): evaluate(m, xf, yf, [(10, k)]) for k in (0, 5, 31)}
        obj, xo, yo = task(m, 9, c, s, 21, objects, "category")
        obj["intact"] = evaluate(m, xo, yo)
        obj["conv13"] = [evaluate(m, xo, yo, [(13, k)]) for k in range(chans)]
        entry["object"] = obj
        entry["greedy"] = greedy(m, 13, [(xf, yf), (xo, yo)], 3, 2)
    out[arch] = entry
    losses = [r["loss"] for r in face["conv13"]]
    print(arch, "intact", face["intact"], "lesion loss range", min(losses), max(losses),
          "accuracies", sorted(set(r["accuracy"] for r in face["conv13"])))
    if arch == "vgg16":
        print("greedy", [(g["kernels"], g["min_gap"], g["tasks"]) for g in entry["greedy"]])
with open(os.path.join(HERE, "fixtures.json"), "w") as f:
    json.dump(out, f, separators=(",", ":"))
print("fixtures.json: %d bytes" % os.path.getsize(os.path.join(HERE, "fixtures.json")))
