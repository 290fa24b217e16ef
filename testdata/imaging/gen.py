#!/usr/bin/env python3
"""Reference fixtures for package stages/internal/imaging.

Makes a few small test images (JPEG and PNG, gray and colour, square and
not, down- and up-scaled) and records what PIL + torchvision make of them:

  <name>.decoded.png   PIL's decode after convert("RGB"), for the JPEGs and
                       the 16-bit gray PNG (stored as L when the three
                       channels are equal, to save space)
  <name>.pixels.png    after Resize(256) + CenterCrop(224), 8-bit (L or RGB)
  <name>.<norm>.f32.gz full ToTensor+Normalize output, CHW float32 LE, gzip
                       (only for the entries listed under "tensors")
  lut.<norm>.f32       ToTensor+Normalize of every byte value 0..255 per
                       channel (3x256 float32 LE), so every other image's
                       tensor follows exactly from its pixels
  index.json           the list of entries and what was used

Run from anywhere with the system Python (torch, torchvision, PIL, numpy):
    /usr/bin/python3 testdata/imaging/gen.py
Everything is seeded; output is deterministic for given library versions.
"""
import gzip
import io
import json
import os
import struct
import zlib

import numpy as np
import PIL
import torch
import torchvision
from PIL import Image, ImageDraw, ImageFilter
from torchvision import transforms as T

HERE = os.path.dirname(os.path.abspath(__file__))
NORMS = {
    "half": ([0.5, 0.5, 0.5], [0.5, 0.5, 0.5]),
    "imagenet": ([0.485, 0.456, 0.406], [0.229, 0.224, 0.225]),
}


def scene(w, h, rng, color, noise=6):
    """A fLOC-like test picture: textured gray background, an object made of
    a few shapes, fine stripes (to exercise antialiasing) and noise."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    base = 110 + 40 * np.sin(xx / w * 3.1 + 0.7) * np.cos(yy / h * 2.3)
    im = Image.fromarray(np.clip(base, 0, 255).astype(np.uint8), "L")
    if color:
        im = Image.merge("RGB", [im, im.point(lambda v: v * 0.8 + 30), im.point(lambda v: 255 - v)])
    d = ImageDraw.Draw(im)
    for _ in range(6):
        x0, y0 = rng.integers(0, w), rng.integers(0, h)
        rx, ry = rng.integers(w // 16 + 1, w // 4 + 2), rng.integers(h // 16 + 1, h // 4 + 2)
        fill = tuple(int(v) for v in rng.integers(0, 256, 3)) if color else int(rng.integers(0, 256))
        d.ellipse([x0 - rx, y0 - ry, x0 + rx, y0 + ry], fill=fill)
    pts = [(int(rng.integers(0, w)), int(rng.integers(0, h))) for _ in range(5)]
    d.polygon(pts, fill=(20, 200, 90) if color else 230)
    for i in range(0, w // 3, 3):  # fine vertical stripes, 1.5 px period-ish
        d.line([(w // 2 + i, h // 8), (w // 2 + i, h // 3)], fill=(255, 255, 255) if color else 255)
    im = im.filter(ImageFilter.GaussianBlur(0.6))
    a = np.asarray(im).astype(np.int16)
    a = a + rng.integers(-noise, noise + 1, a.shape)
    a = np.clip(a, 0, 255).astype(np.uint8)
    return Image.fromarray(a, "RGB" if color else "L")


def png16(path, arr, gray):
    """Write a 16-bit PNG by hand (PIL cannot write 16-bit RGB)."""
    h, w = arr.shape[:2]
    ctype = 0 if gray else 2
    raw = b"".join(b"\x00" + arr[y].astype(">u2").tobytes() for y in range(h))

    def chunk(t, data):
        c = struct.pack(">I", len(data)) + t + data
        return c + struct.pack(">I", zlib.crc32(t + data) & 0xFFFFFFFF)

    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 16, ctype, 0, 0, 0))
    png += chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")
    with open(path, "wb") as f:
        f.write(png)


def jpeg_restart(path, img, hs, restart):
    """Write a baseline JPEG with restart markers every `restart` MCUs (PIL
    cannot). img is an L or RGB PIL image; hs = 2 gives 4:2:0 chroma. The
    Huffman tables are flat (every DC category a 4-bit code, every AC
    run/size an 8-bit code), valid if not optimal; the DCT is float. Only
    validity matters here: the reference pixels come from libjpeg."""
    a = np.asarray(img).astype(np.float64)
    gray = a.ndim == 2
    if gray:
        planes, factors = [a], [(1, 1)]
    else:
        r, g, b = a[..., 0], a[..., 1], a[..., 2]
        y = 0.299 * r + 0.587 * g + 0.114 * b
        cb = -0.168736 * r - 0.331264 * g + 0.5 * b + 128
        cr = 0.5 * r - 0.418688 * g - 0.081312 * b + 128
        planes, factors = [y, cb, cr], [(hs, hs), (1, 1), (1, 1)]
    h, w = a.shape[:2]
    hmax = max(f[0] for f in factors)
    mcux, mcuy = -(-w // (8 * hmax)), -(-h // (8 * hmax))
    q = np.full((8, 8), 6, dtype=np.int64)
    q[0, 0] = 4
    k = np.arange(8)
    C = np.sqrt(2 / 8) * np.cos((2 * k[None, :] + 1) * k[:, None] * np.pi / 16)
    C[0] /= np.sqrt(2)
    zz = sorted(((i, j) for i in range(8) for j in range(8)),
                key=lambda t: (t[0] + t[1], t[1] if (t[0] + t[1]) % 2 == 0 else t[0]))
    grids = []
    for p, (fh, fv) in zip(planes, factors):
        sub = hmax // fh
        ph, pw = mcuy * fv * 8, mcux * fh * 8
        if sub > 1:  # box-average chroma, edges replicated
            p = np.pad(p, ((0, (-h) % sub), (0, (-w) % sub)), mode="edge")
            p = p.reshape(p.shape[0] // sub, sub, p.shape[1] // sub, sub).mean(axis=(1, 3))
        grids.append(np.pad(p, ((0, ph - p.shape[0]), (0, pw - p.shape[1])), mode="edge") - 128)
    bits = []

    def put(v, n):
        bits.extend((v >> (n - 1 - i)) & 1 for i in range(n))

    def cat(v):
        return 0 if v == 0 else int(abs(v)).bit_length()

    def putval(v, s):
        put(v if v >= 0 else v + (1 << s) - 1, s)

    ac_syms = [0x00, 0xF0] + [(r << 4) | s for r in range(16) for s in range(1, 11)]
    ac_code = {sym: i for i, sym in enumerate(ac_syms)}
    out = bytearray()

    def flush():
        while len(bits) % 8:
            bits.append(1)
        for i in range(0, len(bits), 8):
            byte = int("".join(map(str, bits[i:i + 8])), 2)
            out.append(byte)
            if byte == 0xFF:
                out.append(0)
        bits.clear()

    pred = [0] * len(planes)
    n = 0
    for my in range(mcuy):
        for mx in range(mcux):
            if n and n % restart == 0:
                flush()
                out += bytes([0xFF, 0xD0 + (n // restart - 1) % 8])
                pred = [0] * len(planes)
            n += 1
            for ci, (fh, fv) in enumerate(factors):
                for by in range(fv):
                    for bx in range(fh):
                        y0, x0 = (my * fv + by) * 8, (mx * fh + bx) * 8
                        blk = C @ grids[ci][y0:y0 + 8, x0:x0 + 8] @ C.T
                        c = np.round(blk / q).astype(np.int64)
                        d = int(c[0, 0]) - pred[ci]
                        pred[ci] = int(c[0, 0])
                        put(cat(d), 4)
                        putval(d, cat(d))
                        run = 0
                        last = max([i for i in range(1, 64) if c[zz[i]] != 0], default=0)
                        for i in range(1, last + 1):
                            v = int(c[zz[i]])
                            if v == 0:
                                run += 1
                                continue
                            while run > 15:
                                put(ac_code[0xF0], 8)
                                run -= 16
                            s = cat(v)
                            assert s <= 10
                            put(ac_code[(run << 4) | s], 8)
                            putval(v, s)
                            run = 0
                        if last < 63:
                            put(ac_code[0x00], 8)
    flush()
    nf = len(planes)

    def seg(marker, data):
        return bytes([0xFF, marker]) + struct.pack(">H", len(data) + 2) + data

    qz = bytes(int(q[zz[i]]) for i in range(64))
    f = b"\xff\xd8" + seg(0xDB, b"\x00" + qz)
    f += seg(0xC0, struct.pack(">BHHB", 8, h, w, nf) + b"".join(
        bytes([ci + 1, (fh << 4) | fv, 0]) for ci, (fh, fv) in enumerate(factors)))
    dc_counts = bytes([0, 0, 0, 12] + [0] * 12)
    ac_counts = bytes([0] * 7 + [len(ac_syms)] + [0] * 8)
    f += seg(0xC4, b"\x00" + dc_counts + bytes(range(12)) + b"\x10" + ac_counts + bytes(ac_syms))
    f += seg(0xDD, struct.pack(">H", restart))
    f += seg(0xDA, bytes([nf]) + b"".join(bytes([ci + 1, 0x00]) for ci in range(nf)) + b"\x00\x3f\x00")
    f += bytes(out) + b"\xff\xd9"
    with open(path, "wb") as fh_:
        fh_.write(f)


def make_inputs():
    rng = np.random.default_rng(20240601)
    inputs = []

    def add(name, note):
        inputs.append((name, note))

    # fLOC-like: 1024x1024 one-component grayscale JPEG.
    scene(1024, 1024, rng, False, noise=3).save(os.path.join(HERE, "gray1024.jpg"), quality=75)
    add("gray1024.jpg", "1024x1024 grayscale (1-component) JPEG, like fLOC")
    # Colour JPEGs: 4:2:0 (PIL default), 4:4:4 with odd sizes, 4:2:2 portrait.
    scene(300, 200, rng, True).save(os.path.join(HERE, "rgb300x200_420.jpg"), quality=90)
    add("rgb300x200_420.jpg", "300x200 RGB JPEG, 4:2:0 chroma")
    scene(257, 311, rng, True).save(os.path.join(HERE, "rgb257x311_444.jpg"), quality=90, subsampling=0)
    add("rgb257x311_444.jpg", "257x311 RGB JPEG, 4:4:4; crop offset 42.5 rounds to even")
    scene(199, 301, rng, True).save(os.path.join(HERE, "rgb199x301_422.jpg"), quality=85, subsampling=1)
    add("rgb199x301_422.jpg", "199x301 RGB JPEG, 4:2:2, odd width")
    # Restart intervals (not a multiple of the MCU row) in gray and 4:2:0.
    jpeg_restart(os.path.join(HERE, "gray203x141_rst.jpg"), scene(203, 141, rng, False), 1, 5)
    add("gray203x141_rst.jpg", "203x141 gray baseline JPEG with restart markers every 5 MCUs")
    jpeg_restart(os.path.join(HERE, "rgb203x141_420_rst.jpg"), scene(203, 141, rng, True), 2, 7)
    add("rgb203x141_420_rst.jpg", "203x141 RGB 4:2:0 JPEG with restart markers every 7 MCUs")
    # Progressive JPEGs: decoded by Go's image/jpeg (not bit-exact).
    scene(240, 320, rng, False).save(os.path.join(HERE, "gray240x320_prog.jpg"), quality=80, progressive=True)
    add("gray240x320_prog.jpg", "240x320 gray progressive JPEG (Go image/jpeg fallback)")
    scene(240, 180, rng, True).save(os.path.join(HERE, "rgb240x180_prog.jpg"), quality=85, progressive=True)
    add("rgb240x180_prog.jpg", "240x180 RGB 4:2:0 progressive JPEG (Go image/jpeg fallback)")
    # PNGs: must match exactly.
    scene(300, 200, rng, True).save(os.path.join(HERE, "rgb300x200.png"))
    add("rgb300x200.png", "300x200 RGB PNG")
    scene(400, 300, rng, False).save(os.path.join(HERE, "gray400x300.png"))
    add("gray400x300.png", "400x300 gray PNG")
    scene(100, 60, rng, True).save(os.path.join(HERE, "rgb100x60.png"))
    add("rgb100x60.png", "100x60 RGB PNG, upscaled to 426x256")
    scene(320, 240, rng, True).quantize(colors=64, method=Image.Quantize.MEDIANCUT).save(
        os.path.join(HERE, "pal320x240.png"))
    add("pal320x240.png", "320x240 paletted PNG")
    a = np.asarray(scene(120, 90, rng, True)).astype(np.uint16) * 256 + rng.integers(0, 256, (90, 120, 3)).astype(np.uint16)
    png16(os.path.join(HERE, "rgb16_120x90.png"), a, gray=False)
    add("rgb16_120x90.png", "120x90 16-bit RGB PNG (PIL keeps the high byte)")
    g = np.asarray(scene(160, 120, rng, False)).astype(np.uint16)
    g[::7, ::5] += 300  # values above 255: PIL clips them in convert("RGB")
    png16(os.path.join(HERE, "gray16_160x120.png"), g, gray=True)
    add("gray16_160x120.png", "160x120 16-bit gray PNG, some values > 255 (PIL clips)")
    return inputs


def save_u8(path, arr):
    """Save HxWx3 uint8 as L when channels are equal, else RGB (PNG)."""
    if np.array_equal(arr[..., 0], arr[..., 1]) and np.array_equal(arr[..., 0], arr[..., 2]):
        Image.fromarray(arr[..., 0], "L").save(path, optimize=True)
        return "L"
    Image.fromarray(arr, "RGB").save(path, optimize=True)
    return "RGB"


def main():
    torch.set_num_threads(1)
    inputs = make_inputs()
    tensors = {"gray1024.jpg": "half", "rgb300x200.png": "imagenet"}
    crop = T.Compose([T.Resize(256), T.CenterCrop(224)])
    entries = []
    for name, note in inputs:
        path = os.path.join(HERE, name)
        with Image.open(path) as im:
            mode = im.mode
            rgb = im.convert("RGB")
        stem = name.rsplit(".", 1)[0] + "." + name.rsplit(".", 1)[1]
        e = {"file": name, "note": note, "pil_mode": mode, "width": rgb.size[0], "height": rgb.size[1],
             "resized": list(T.Resize(256)(rgb).size)}
        # PIL's decoded pixels, kept for JPEGs (to measure Go's decoder against
        # libjpeg) and for the 16-bit gray PNG (PIL's clipping); other PNGs are
        # lossless and checked through their resized pixels.
        if name.endswith(".jpg") or mode == "I":
            e["decoded"] = stem + ".decoded.png"
            e["decoded_mode"] = save_u8(os.path.join(HERE, e["decoded"]), np.asarray(rgb))
        px = crop(rgb)
        pmode = save_u8(os.path.join(HERE, stem + ".pixels.png"), np.asarray(px))
        e["pixels"], e["pixels_mode"] = stem + ".pixels.png", pmode
        if name in tensors:
            norm = tensors[name]
            mean, std = NORMS[norm]
            t = T.Compose([crop, T.ToTensor(), T.Normalize(mean, std)])(rgb)
            assert t.dtype == torch.float32 and tuple(t.shape) == (3, 224, 224)
            fn = f"{stem}.{norm}.f32.gz"
            with gzip.GzipFile(os.path.join(HERE, fn), "wb", mtime=0) as f:
                f.write(t.numpy().astype("<f4").tobytes())
            e["tensor"] = fn
            e["tensor_norm"] = norm
        entries.append(e)
    # Every byte value through ToTensor + Normalize, per channel.
    ramp = Image.fromarray(np.repeat(np.arange(256, dtype=np.uint8)[None, :, None], 3, axis=2), "RGB")
    luts = {}
    for norm, (mean, std) in NORMS.items():
        t = T.Normalize(mean, std)(T.ToTensor()(ramp))  # 3x1x256
        fn = f"lut.{norm}.f32"
        with open(os.path.join(HERE, fn), "wb") as f:
            f.write(t.numpy().astype("<f4").reshape(3, 256).tobytes())
        luts[norm] = fn
    index = {
        "generator": "testdata/imaging/gen.py",
        "versions": {"torch": torch.__version__, "torchvision": torchvision.__version__, "PIL": PIL.__version__,
                     "numpy": np.__version__},
        "pipeline": "PIL open -> convert('RGB') -> Resize(256) -> CenterCrop(224) -> ToTensor -> Normalize",
        "luts": luts,
        "entries": entries,
    }
    with open(os.path.join(HERE, "index.json"), "w") as f:
        json.dump(index, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
