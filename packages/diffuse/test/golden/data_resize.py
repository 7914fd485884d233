"""Golden values for improved-diffusion's image preprocessing, computed with PIL.

Run with Debian's python3 (python3-pil, python3-numpy) from this folder:
    /usr/bin/python3 data_resize.py
Writes data_resize.npz (one uint8 HWC output per case, plus one float32 CHW case) and
data_resize.json (the cases). Inputs are a formula that the TypeScript test recomputes.
"""
import json

import numpy as np
from PIL import Image


def pattern(w, h):
    """(H, W, 3) uint8 with sharp wrap-around edges, so bicubic overshoot and clipping matter."""
    y, x, c = np.meshgrid(np.arange(h), np.arange(w), np.arange(3), indexing="ij")
    return ((x * x * 7 + y * 13 + c * 50 + ((x * y) % 17) * 9) % 256).astype(np.uint8)


def improved_diffusion_resize(pil_image, resolution):
    """image_datasets.py ImageDataset.__getitem__, up to the float conversion."""
    while min(*pil_image.size) >= 2 * resolution:
        pil_image = pil_image.resize(tuple(x // 2 for x in pil_image.size), resample=Image.BOX)
    scale = resolution / min(*pil_image.size)
    pil_image = pil_image.resize(tuple(round(x * scale) for x in pil_image.size), resample=Image.BICUBIC)
    arr = np.array(pil_image)
    crop_y = (arr.shape[0] - resolution) // 2
    crop_x = (arr.shape[1] - resolution) // 2
    return arr[crop_y : crop_y + resolution, crop_x : crop_x + resolution]


CASES = [
    (37, 53, 16),  # odd sizes, bicubic down
    (53, 37, 16),
    (100, 60, 32),  # bicubic down, wide
    (130, 70, 32),  # one BOX halving of odd width
    (203, 157, 32),  # two BOX halvings, odd sizes
    (256, 200, 32),  # two halvings, then bicubic
    (64, 64, 32),  # exact halving, bicubic is the identity
    (20, 54, 15),  # 54 * 0.75 = 40.5: Python's round gives 40
    (10, 7, 16),  # smaller than the target: bicubic upsampling
    (31, 31, 31),  # no-op
]

cases = []
arrays = {}
for mode in ["RGB", "L"]:
    for w, h, size in CASES:
        name = f"{mode}_{w}x{h}_{size}"
        im = Image.fromarray(pattern(w, h), "RGB")
        if mode == "L":
            im = im.convert("L")
        out = improved_diffusion_resize(im, size)
        if out.ndim == 2:
            out = out[:, :, None]
        arrays[name] = np.ascontiguousarray(out)
        cases.append({"name": name, "mode": mode, "width": w, "height": h, "size": size})

# The float conversion, exactly as image_datasets.py: float32, / 127.5 - 1, CHW.
arr = arrays["RGB_37x53_16"]
arrays["float_RGB_37x53_16"] = np.transpose(arr.astype(np.float32) / 127.5 - 1, [2, 0, 1]).copy()

np.savez("data_resize.npz", **arrays)
with open("data_resize.json", "w") as f:
    json.dump({"pillow": Image.__version__, "numpy": np.__version__, "cases": cases}, f, indent=1)
print("wrote", len(cases), "cases")
