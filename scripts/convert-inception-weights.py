"""Converts pytorch-fid's FID Inception weights to the safetensors file `diffuse fid` loads.

pytorch-fid's network (the TensorFlow FID graph ported to PyTorch) and diffuse's InceptionV3 use
the same parameter names, so this only drops the batch-norm step counters and changes the format.
It is run by hand, once; nothing downloads or runs it at install time.

  1. Download https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/pt_inception-2015-12-05-6726825d.pth
  2. python3 scripts/convert-inception-weights.py pt_inception-2015-12-05-6726825d.pth inception-fid.safetensors
     (needs PyTorch; on Debian: /usr/bin/python3 with python3-torch)
  3. diffuse fid samples.npz REFERENCE --features inception --inception-weights inception-fid.safetensors
"""
import json
import struct
import sys

import torch


def save_safetensors(path, tensors):
    """The safetensors format: 8-byte header length, JSON header, then the raw little-endian bytes."""
    header, blobs, offset = {}, [], 0
    for name, t in tensors.items():
        data = t.contiguous().numpy().tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text)
        for blob in blobs:
            f.write(blob)


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    state = torch.load(sys.argv[1], map_location="cpu")
    tensors = {k: v.float() for k, v in state.items() if not k.endswith("num_batches_tracked") and not k.startswith("AuxLogits.")}
    if "fc.weight" not in tensors or tuple(tensors["fc.weight"].shape) != (1008, 2048):
        sys.exit(f"{sys.argv[1]}: not pytorch-fid's FID Inception weights (no 1008×2048 fc.weight)")
    save_safetensors(sys.argv[2], tensors)
    print(f"wrote {len(tensors)} tensors ({sum(t.numel() for t in tensors.values())} numbers) to {sys.argv[2]}")


if __name__ == "__main__":
    main()
