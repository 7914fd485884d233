"""Golden files for the .npy/.npz reader and writer, made and checked with numpy.

Run with Debian's python3 (python3-numpy) from this folder, after `node io_ours.mjs`:
    /usr/bin/python3 io_npz.py
Writes io_savez.npz (numpy.savez, as improved-diffusion's image_sample.py),
io_savez_compressed.npz (numpy.savez_compressed, with a big-endian array), and io_npz.json:
the sha256 of numpy.save's bytes per array, and numpy's verdict on the files our writer made.
"""
import hashlib
import io
import json

import numpy as np


def golden_arrays():
    """The same arrays as ../io-golden-arrays.ts."""
    return {
        "arr_0": (np.arange(3 * 5 * 4 * 3) * 37 + 11).astype(np.int64).__mod__(256).astype(np.uint8).reshape(3, 5, 4, 3),
        "arr_1": np.array([2, 0, 7], dtype=np.int64),
        "f32": np.array([np.float32(i * 0.37 - 1.5) for i in range(12)], dtype=np.float32).reshape(3, 4),
        "f64": (np.arange(6) / 7).reshape(2, 3),
        "i32": np.array([-3, 0, 2147483647, -2147483648], dtype=np.int32),
        "i64": np.array([-5, 1099511627776, 7], dtype=np.int64),
        "scalar": np.array(2.5),
    }


def sha(b):
    return hashlib.sha256(b).hexdigest()


arrays = golden_arrays()
np.savez("io_savez.npz", arrays["arr_0"], arrays["arr_1"])
big_endian = np.array([[1.5, -2.25], [3.0, 0.1]], dtype=">f4")
np.savez_compressed("io_savez_compressed.npz", f32=arrays["f32"], f64=arrays["f64"], i32=arrays["i32"], i64=arrays["i64"], be=big_endian)

npy_sha = {}
for key, arr in arrays.items():
    buf = io.BytesIO()
    np.save(buf, arr)
    npy_sha[key] = sha(buf.getvalue())

ours = {}
for name in ["io_ours.npz", "io_ours_compressed.npz"]:
    with np.load(name) as z:
        same = sorted(z.files) == sorted(arrays) and all(
            z[k].dtype == arrays[k].dtype and z[k].shape == arrays[k].shape and np.array_equal(z[k], arrays[k]) for k in arrays
        )
    with open(name, "rb") as f:
        ours[name] = {"sha256": sha(f.read()), "numpy_reads_same_arrays": bool(same)}
    assert same, name

with open("io_npz.json", "w") as f:
    json.dump(
        {
            "numpy": np.__version__,
            "npy_sha256": npy_sha,
            "big_endian": big_endian.astype("<f4").tolist(),
            "ours": ours,
        },
        f,
        indent=1,
    )
print("ok")
