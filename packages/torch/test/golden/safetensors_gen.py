"""Golden safetensors files written the way huggingface/safetensors serializes.

Python's `safetensors` package cannot be installed on these machines, so this is a small writer
that follows the Rust library's `prepare` / `serialize` exactly (safetensors/src/tensor.rs):
  * tensors sorted by dtype, largest alignment first (the Dtype enum order reversed), then by
    name (byte order);
  * the header is compact JSON (serde_json: no spaces, non-ASCII kept as UTF-8), with
    "__metadata__" first when metadata is given, then each tensor as
    {"dtype":..,"shape":[..],"data_offsets":[begin,end]} in data order;
  * the header is padded with spaces to a multiple of 8 bytes, and preceded by its length as a
    little-endian u64; tensor bytes follow back to back (C order, little endian).
The Rust library writes metadata from a HashMap (unspecified order); we sort its keys.

Run with Debian's interpreter:  /usr/bin/python3 packages/torch/test/golden/safetensors_gen.py
Writes *.safetensors files and safetensors_golden.json (the expected values) next to this file.
"""
import json
import math
import os
import struct

import torch

# The Rust Dtype enum order (ascending alignment), restricted to what torch 1.13 has.
RUST_ORDER = ['BOOL', 'U8', 'I8', 'F8_E5M2', 'F8_E4M3', 'I16', 'U16', 'F16', 'BF16', 'I32', 'U32',
              'F32', 'F64', 'I64', 'U64']
DTYPES = {
    torch.float64: 'F64', torch.float32: 'F32', torch.float16: 'F16', torch.bfloat16: 'BF16',
    torch.int64: 'I64', torch.int32: 'I32', torch.int16: 'I16', torch.int8: 'I8',
    torch.uint8: 'U8', torch.bool: 'BOOL',
}


def raw_bytes(t):
    # Reinterpret the contiguous storage as bytes (works for bf16, which numpy lacks).
    return t.contiguous().reshape(-1).view(torch.uint8).numpy().tobytes()


def serialize(tensors, metadata=None):
    items = sorted(tensors.items(), key=lambda kv: (-RUST_ORDER.index(DTYPES[kv[1].dtype]), kv[0].encode('utf-8')))
    header = {}
    if metadata is not None:
        header['__metadata__'] = {k: metadata[k] for k in sorted(metadata, key=lambda k: k.encode('utf-8'))}
    offset = 0
    blobs = []
    for name, t in items:
        data = raw_bytes(t)
        header[name] = {'dtype': DTYPES[t.dtype], 'shape': list(t.shape), 'data_offsets': [offset, offset + len(data)]}
        offset += len(data)
        blobs.append(data)
    text = json.dumps(header, separators=(',', ':'), ensure_ascii=False).encode('utf-8')
    text += b' ' * ((8 - len(text) % 8) % 8)
    return struct.pack('<Q', len(text)) + text + b''.join(blobs)


def jsonable(v):
    if isinstance(v, float) and not math.isfinite(v):
        return 'nan' if math.isnan(v) else ('inf' if v > 0 else '-inf')
    return v


def describe(tensors):
    out = {}
    for name, t in tensors.items():
        values = t.reshape(-1).tolist()
        out[name] = {'dtype': DTYPES[t.dtype], 'shape': list(t.shape), 'values': [jsonable(v) for v in values]}
    return out


def all_dtypes():
    g = torch.Generator().manual_seed(7)
    return {
        # Names chosen so that name order, dtype order and insertion order all differ.
        'z.f64': torch.tensor([[0.1, -2.5e300], [1e-310, -0.0]], dtype=torch.float64),
        'layer.10.weight': torch.randn(2, 3, 4, generator=g),
        'layer.2.weight': torch.tensor([1.0, float('inf'), float('-inf'), 3.25], dtype=torch.float32),
        'half': torch.tensor([0.5, -1.0, 65504.0, 6.1e-05, 0.0], dtype=torch.float16),
        'bf16': torch.tensor([1.0, -3.0, 1.5e30, 0.0078125], dtype=torch.bfloat16),
        'A.long': torch.tensor([0, -1, 2 ** 53 - 1, -(2 ** 40) + 3], dtype=torch.int64),
        'int32': torch.tensor([[2 ** 31 - 1, -2 ** 31], [7, -7]], dtype=torch.int32),
        'int16': torch.tensor([-32768, 32767, 5], dtype=torch.int16),
        'int8': torch.tensor([-128, 127, 0, -1, 3], dtype=torch.int8),
        'uint8': torch.arange(0, 256, 51, dtype=torch.uint8),
        'mask': torch.tensor([[True, False, True], [False, False, True]]),
        'scalar': torch.tensor(2.75, dtype=torch.float32),
        'empty': torch.zeros(2, 0, 3, dtype=torch.float32),
        'odd': torch.tensor([1, 2, 3], dtype=torch.uint8),
    }


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    files = {
        'all_dtypes.safetensors': (all_dtypes(), {'format': 'pt', 'note': 'héllo "quoted" \\ tab\t', 'a': '1'}),
        # No metadata argument at all: the header has no "__metadata__" entry.
        'no_metadata.safetensors': ({'weight': torch.arange(6, dtype=torch.float32).reshape(2, 3)}, None),
    }
    golden = {'torch': torch.__version__, 'files': {}}
    for name, (tensors, metadata) in files.items():
        with open(os.path.join(here, name), 'wb') as f:
            f.write(serialize(tensors, metadata))
        golden['files'][name] = {'metadata': metadata, 'tensors': describe(tensors)}
    with open(os.path.join(here, 'safetensors_golden.json'), 'w') as f:
        json.dump(golden, f, indent=1, ensure_ascii=False)
        f.write('\n')


if __name__ == '__main__':
    main()
