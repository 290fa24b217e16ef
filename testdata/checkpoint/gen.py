#!/usr/bin/env python3
"""Generate the reference checkpoints for stages/internal/checkpoint tests.

Run from the repository root:  python3 testdata/checkpoint/gen.py

A tiny seeded network (2 conv + BatchNorm + 1 linear) plus extra tensors that
exercise the loader (a transposed, non-contiguous view; a view with a storage
offset; float64, float16 and bfloat16 tensors) is saved in every container
and wrapping the loader supports. expected.json records, for each fixture,
the wrapper, scalar metadata, non-floating entries and, for every floating
tensor, its shape and its values converted to float32 by torch (row-major),
which the Go test compares exactly.
"""
import io
import json
import os
import struct
import zipfile
import argparse

import numpy as np
import torch
import torch.nn as nn

OUT = os.path.dirname(os.path.abspath(__file__))
torch.manual_seed(1234)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 4, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(4)
        self.conv2 = nn.Conv2d(4, 4, 3, padding=1)
        self.fc = nn.Linear(4 * 2 * 2, 5)

    def forward(self, x):
        x = torch.relu(self.bn1(self.conv1(x)))
        x = torch.relu(self.conv2(x))
        x = nn.functional.adaptive_avg_pool2d(x, 2)
        return self.fc(x.flatten(1))


model = Net()
# One training step so BatchNorm statistics, num_batches_tracked and SGD
# momentum buffers are non-trivial.
opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
model.train()
loss = model(torch.randn(2, 3, 4, 4)).square().mean()
loss.backward()
opt.step()

base = torch.randn(6, 7)
extras = {
    "extra.transposed": base.t(),                      # non-contiguous (strides 1, 7)
    "extra.offset_view": base[2:5, 1:4],               # storage offset 15, strides (7, 1)
    "extra.float64": torch.randn(3, 2, dtype=torch.float64),
    "extra.float16": torch.randn(5).to(torch.float16),
    "extra.bfloat16": torch.randn(2, 2).to(torch.bfloat16),
    "extra.scalar": torch.tensor(2.5),                  # 0-d tensor
    "extra.empty": torch.zeros(0, 3),
}
assert not extras["extra.transposed"].is_contiguous()
assert extras["extra.offset_view"].storage_offset() == 15

sd = model.state_dict()
sd.update(extras)

dp_sd = nn.DataParallel(model).state_dict()
assert all(k.startswith("module.") for k in dp_sd)
dp_sd.update({"module." + k: v for k, v in extras.items()})


def save(obj, name, legacy=False, protocol=2):
    path = os.path.join(OUT, name)
    torch.save(obj, path, pickle_protocol=protocol,
               _use_new_zipfile_serialization=not legacy)
    return name


def floats(d):
    out = {}
    for k, v in d.items():
        if torch.is_tensor(v) and v.is_floating_point():
            out[k.removeprefix("module.")] = {
                "shape": list(v.shape),
                "data": [float(x) for x in v.detach().to(torch.float32).contiguous().flatten().tolist()],
            }
    return out


def others(d):
    return {k.removeprefix("module."): {"dtype": str(v.dtype).removeprefix("torch."), "shape": list(v.shape)}
            for k, v in d.items() if torch.is_tensor(v) and not v.is_floating_point()}


tensors = floats(sd)
other = others(sd)
fixtures = {}

fixtures[save(sd, "bare_zip.pt")] = {"format": "torch-zip", "wrapper": "", "meta": {}}
fixtures[save(sd, "bare_zip_p4.pt", protocol=4)] = {"format": "torch-zip", "wrapper": "", "meta": {}}
fixtures[save(sd, "bare_legacy.pth", legacy=True)] = {"format": "torch-legacy", "wrapper": "", "meta": {}}
fixtures[save(sd, "bare_legacy_p4.pth", legacy=True, protocol=4)] = {"format": "torch-legacy", "wrapper": "", "meta": {}}

train = {"epoch": 3, "arch": "vgg16", "state_dict": dp_sd,
         "best_acc1": np.float64(71.25), "optimizer": opt.state_dict()}
train_meta = {"epoch": 3, "arch": "vgg16", "best_acc1": 71.25}
fixtures[save(train, "train_zip.pth.tar")] = {"format": "torch-zip", "wrapper": "state_dict", "meta": train_meta}
fixtures[save(train, "train_zip_p4.pth.tar", protocol=4)] = {"format": "torch-zip", "wrapper": "state_dict", "meta": train_meta}
fixtures[save(train, "train_legacy.pth.tar", legacy=True)] = {"format": "torch-legacy", "wrapper": "state_dict", "meta": train_meta}

msd = {"epoch": 7, "model_state_dict": sd, "optimizer_state_dict": opt.state_dict(),
       "loss": 0.5, "step": np.int64(42), "acc": torch.tensor(0.75)}
fixtures[save(msd, "model_state_dict.pt")] = {"format": "torch-zip", "wrapper": "model_state_dict",
                                              "meta": {"epoch": 7, "loss": 0.5, "step": 42, "acc": 0.75}}
wrapped = {"model": dp_sd, "args": argparse.Namespace(lr=0.1, arch="vgg16"), "note": "hi",
           "rng": torch.get_rng_state()}
fixtures[save(wrapped, "model_legacy.pth", legacy=True)] = {"format": "torch-legacy", "wrapper": "model", "meta": {"note": "hi"}}
fixtures[save(wrapped, "model_zip.pth")] = {"format": "torch-zip", "wrapper": "model", "meta": {"note": "hi"}}

# Big-endian zip variant: same archive with byteorder "big" and every storage
# byte-swapped, as torch.save writes on a big-endian host.
src = os.path.join(OUT, "bare_zip.pt")
with zipfile.ZipFile(src) as zin:
    pkl = zin.read("bare_zip/data.pkl")
    sizes = {}
    import pickle

    class U(pickle.Unpickler):
        # Record each storage key's element size from the persistent ids.
        def persistent_load(self, pid):
            _, cls, key, _, numel = pid
            storage = cls(numel)
            sizes[key] = storage.element_size()
            return storage
    U(io.BytesIO(pkl)).load()
    out = os.path.join(OUT, "bigendian_zip.pt")
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as zout:
        for info in zin.infolist():
            data = zin.read(info.filename)
            name = info.filename.replace("bare_zip/", "bigendian_zip/", 1)
            if name.endswith("/byteorder"):
                data = b"big"
            key = name.split("/data/", 1)[1] if "/data/" in name else None
            if key is not None:
                n = sizes[key]
                data = b"".join(data[i:i + n][::-1] for i in range(0, len(data), n))
            zout.writestr(name, data)
        if not any(i.filename.endswith("/byteorder") for i in zin.infolist()):
            zout.writestr("bigendian_zip/byteorder", b"big")
fixtures["bigendian_zip.pt"] = {"format": "torch-zip", "wrapper": "", "meta": {}}

# Deflate-compressed copy of the zip format (torch itself stores entries).
with zipfile.ZipFile(os.path.join(OUT, "bare_zip.pt")) as zin, \
        zipfile.ZipFile(os.path.join(OUT, "deflated_zip.pt"), "w", zipfile.ZIP_DEFLATED) as zout:
    for info in zin.infolist():
        zout.writestr(info.filename.replace("bare_zip/", "deflated_zip/", 1), zin.read(info.filename))
fixtures["deflated_zip.pt"] = {"format": "torch-zip", "wrapper": "", "meta": {}}


# safetensors, written by hand (the safetensors package is not required):
# names sorted, data contiguous in that order, header padded to 8 bytes.
def st_dtype(t):
    return {torch.float32: "F32", torch.float64: "F64", torch.float16: "F16",
            torch.bfloat16: "BF16", torch.int64: "I64"}[t.dtype]


def st_bytes(t):
    t = t.detach().contiguous()
    if t.dtype == torch.bfloat16:
        return t.view(torch.int16).numpy().astype("<i2").tobytes()
    return t.numpy().astype(t.numpy().dtype.newbyteorder("<")).tobytes()


header, blobs, off = {"__metadata__": {"format": "pt", "epoch": "3"}}, [], 0
for k in sorted(dp_sd):
    b = st_bytes(dp_sd[k])
    header[k] = {"dtype": st_dtype(dp_sd[k]), "shape": list(dp_sd[k].shape), "data_offsets": [off, off + len(b)]}
    blobs.append(b)
    off += len(b)
h = json.dumps(header, separators=(",", ":")).encode()
h += b" " * (-len(h) % 8)
with open(os.path.join(OUT, "model.safetensors"), "wb") as f:
    f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))
fixtures["model.safetensors"] = {"format": "safetensors", "wrapper": "", "meta": {"format": "pt", "epoch": "3"}}

# Sanity: torch reads back what we wrote.
for name in fixtures:
    if name.endswith(".safetensors"):
        continue
    if name != "bigendian_zip.pt":
        torch.load(os.path.join(OUT, name))
# (torch < 2.1 ignores the byteorder record, so bigendian_zip.pt is only
# checked by the Go test against the same expected values.)

with open(os.path.join(OUT, "expected.json"), "w") as f:
    json.dump({"torch": torch.__version__, "fixtures": fixtures, "tensors": tensors, "other": other},
              f, indent=1, sort_keys=True)
    f.write("\n")
print("wrote", len(fixtures), "fixtures;",
      sum(os.path.getsize(os.path.join(OUT, n)) for n in list(fixtures) + ["expected.json"]), "bytes")
