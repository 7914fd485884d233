"""Golden values for the Inception test: a PyTorch mirror of pytorch-fid's FID InceptionV3.

The mirror is torchvision's Inception3 (num_classes=1008, aux_logits=False, transform_input=False)
with pytorch-fid's FIDInceptionA/C/E_1/E_2 blocks, written out here (torchvision is not installed)
with the same module names, so its state-dict keys are those of pt_inception-2015-12-05.pth. The
forward is pytorch-fid's InceptionV3: bilinear resize to 299 (align_corners=False), blocks 0-3 to
the 2048-d pool3, then the 1008-way fc on pool3 for logits.

The weights are not stored (24M numbers): they are drawn from torch.Generator().manual_seed(SEED),
one randn per state-dict entry in order (num_batches_tracked skipped), then scaled so activations
stay O(1): conv weights by sqrt(2 / fan_in), fc weight by sqrt(1 / 2048), fc bias by 0.1; batch
norm weight 1 + 0.1 r, bias 0.1 r, running_mean 0.1 r, running_var 1 + 0.1 |r|. The input is
rand(2, 3, 40, 40) * 2 - 1 from a second generator seeded INPUT_SEED. libtorch's CPU generator
gives the same numbers in TypeScript; the test checks a checksum of every regenerated tensor.

Run:  /usr/bin/python3 packages/diffuse/test/golden/eval_inception_gen.py
Writes eval_inception.json (keys, shapes, checksums, float32 rounding noise) and
eval_inception.safetensors (pool3 features and logits of the two images).
"""
import importlib.util
import json
import math
import os

import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
# The weights converter's safetensors writer (one copy of the format code).
_spec = importlib.util.spec_from_file_location("convert", os.path.join(HERE, "../../../../scripts/convert-inception-weights.py"))
_convert = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_convert)
SEED = 1234
INPUT_SEED = 99


class BasicConv2d(nn.Module):
    def __init__(self, in_channels, out_channels, **kwargs):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, bias=False, **kwargs)
        self.bn = nn.BatchNorm2d(out_channels, eps=0.001)

    def forward(self, x):
        return F.relu(self.bn(self.conv(x)))


class FIDInceptionA(nn.Module):
    def __init__(self, in_channels, pool_features):
        super().__init__()
        self.branch1x1 = BasicConv2d(in_channels, 64, kernel_size=1)
        self.branch5x5_1 = BasicConv2d(in_channels, 48, kernel_size=1)
        self.branch5x5_2 = BasicConv2d(48, 64, kernel_size=5, padding=2)
        self.branch3x3dbl_1 = BasicConv2d(in_channels, 64, kernel_size=1)
        self.branch3x3dbl_2 = BasicConv2d(64, 96, kernel_size=3, padding=1)
        self.branch3x3dbl_3 = BasicConv2d(96, 96, kernel_size=3, padding=1)
        self.branch_pool = BasicConv2d(in_channels, pool_features, kernel_size=1)

    def forward(self, x):
        b1 = self.branch1x1(x)
        b5 = self.branch5x5_2(self.branch5x5_1(x))
        b3 = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        bp = self.branch_pool(F.avg_pool2d(x, kernel_size=3, stride=1, padding=1, count_include_pad=False))
        return torch.cat([b1, b5, b3, bp], 1)


class InceptionB(nn.Module):
    def __init__(self, in_channels):
        super().__init__()
        self.branch3x3 = BasicConv2d(in_channels, 384, kernel_size=3, stride=2)
        self.branch3x3dbl_1 = BasicConv2d(in_channels, 64, kernel_size=1)
        self.branch3x3dbl_2 = BasicConv2d(64, 96, kernel_size=3, padding=1)
        self.branch3x3dbl_3 = BasicConv2d(96, 96, kernel_size=3, stride=2)

    def forward(self, x):
        b3 = self.branch3x3(x)
        bd = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        return torch.cat([b3, bd, F.max_pool2d(x, kernel_size=3, stride=2)], 1)


class FIDInceptionC(nn.Module):
    def __init__(self, in_channels, channels_7x7):
        super().__init__()
        c7 = channels_7x7
        self.branch1x1 = BasicConv2d(in_channels, 192, kernel_size=1)
        self.branch7x7_1 = BasicConv2d(in_channels, c7, kernel_size=1)
        self.branch7x7_2 = BasicConv2d(c7, c7, kernel_size=(1, 7), padding=(0, 3))
        self.branch7x7_3 = BasicConv2d(c7, 192, kernel_size=(7, 1), padding=(3, 0))
        self.branch7x7dbl_1 = BasicConv2d(in_channels, c7, kernel_size=1)
        self.branch7x7dbl_2 = BasicConv2d(c7, c7, kernel_size=(7, 1), padding=(3, 0))
        self.branch7x7dbl_3 = BasicConv2d(c7, c7, kernel_size=(1, 7), padding=(0, 3))
        self.branch7x7dbl_4 = BasicConv2d(c7, c7, kernel_size=(7, 1), padding=(3, 0))
        self.branch7x7dbl_5 = BasicConv2d(c7, 192, kernel_size=(1, 7), padding=(0, 3))
        self.branch_pool = BasicConv2d(in_channels, 192, kernel_size=1)

    def forward(self, x):
        b1 = self.branch1x1(x)
        b7 = self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x)))
        bd = x
        for i in range(1, 6):
            bd = getattr(self, f"branch7x7dbl_{i}")(bd)
        bp = self.branch_pool(F.avg_pool2d(x, kernel_size=3, stride=1, padding=1, count_include_pad=False))
        return torch.cat([b1, b7, bd, bp], 1)


class InceptionD(nn.Module):
    def __init__(self, in_channels):
        super().__init__()
        self.branch3x3_1 = BasicConv2d(in_channels, 192, kernel_size=1)
        self.branch3x3_2 = BasicConv2d(192, 320, kernel_size=3, stride=2)
        self.branch7x7x3_1 = BasicConv2d(in_channels, 192, kernel_size=1)
        self.branch7x7x3_2 = BasicConv2d(192, 192, kernel_size=(1, 7), padding=(0, 3))
        self.branch7x7x3_3 = BasicConv2d(192, 192, kernel_size=(7, 1), padding=(3, 0))
        self.branch7x7x3_4 = BasicConv2d(192, 192, kernel_size=3, stride=2)

    def forward(self, x):
        b3 = self.branch3x3_2(self.branch3x3_1(x))
        b7 = self.branch7x7x3_4(self.branch7x7x3_3(self.branch7x7x3_2(self.branch7x7x3_1(x))))
        return torch.cat([b3, b7, F.max_pool2d(x, kernel_size=3, stride=2)], 1)


class FIDInceptionE(nn.Module):
    """FIDInceptionE_1 (pool='avg', padding excluded) and FIDInceptionE_2 (pool='max')."""

    def __init__(self, in_channels, pool):
        super().__init__()
        self.pool = pool
        self.branch1x1 = BasicConv2d(in_channels, 320, kernel_size=1)
        self.branch3x3_1 = BasicConv2d(in_channels, 384, kernel_size=1)
        self.branch3x3_2a = BasicConv2d(384, 384, kernel_size=(1, 3), padding=(0, 1))
        self.branch3x3_2b = BasicConv2d(384, 384, kernel_size=(3, 1), padding=(1, 0))
        self.branch3x3dbl_1 = BasicConv2d(in_channels, 448, kernel_size=1)
        self.branch3x3dbl_2 = BasicConv2d(448, 384, kernel_size=3, padding=1)
        self.branch3x3dbl_3a = BasicConv2d(384, 384, kernel_size=(1, 3), padding=(0, 1))
        self.branch3x3dbl_3b = BasicConv2d(384, 384, kernel_size=(3, 1), padding=(1, 0))
        self.branch_pool = BasicConv2d(in_channels, 192, kernel_size=1)

    def forward(self, x):
        b1 = self.branch1x1(x)
        b3 = self.branch3x3_1(x)
        b3 = torch.cat([self.branch3x3_2a(b3), self.branch3x3_2b(b3)], 1)
        bd = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        bd = torch.cat([self.branch3x3dbl_3a(bd), self.branch3x3dbl_3b(bd)], 1)
        if self.pool == "avg":
            p = F.avg_pool2d(x, kernel_size=3, stride=1, padding=1, count_include_pad=False)
        else:
            p = F.max_pool2d(x, kernel_size=3, stride=1, padding=1)
        return torch.cat([b1, b3, bd, self.branch_pool(p)], 1)


class FIDInception3(nn.Module):
    def __init__(self):
        super().__init__()
        self.Conv2d_1a_3x3 = BasicConv2d(3, 32, kernel_size=3, stride=2)
        self.Conv2d_2a_3x3 = BasicConv2d(32, 32, kernel_size=3)
        self.Conv2d_2b_3x3 = BasicConv2d(32, 64, kernel_size=3, padding=1)
        self.maxpool1 = nn.MaxPool2d(kernel_size=3, stride=2)
        self.Conv2d_3b_1x1 = BasicConv2d(64, 80, kernel_size=1)
        self.Conv2d_4a_3x3 = BasicConv2d(80, 192, kernel_size=3)
        self.maxpool2 = nn.MaxPool2d(kernel_size=3, stride=2)
        self.Mixed_5b = FIDInceptionA(192, pool_features=32)
        self.Mixed_5c = FIDInceptionA(256, pool_features=64)
        self.Mixed_5d = FIDInceptionA(288, pool_features=64)
        self.Mixed_6a = InceptionB(288)
        self.Mixed_6b = FIDInceptionC(768, channels_7x7=128)
        self.Mixed_6c = FIDInceptionC(768, channels_7x7=160)
        self.Mixed_6d = FIDInceptionC(768, channels_7x7=160)
        self.Mixed_6e = FIDInceptionC(768, channels_7x7=192)
        self.Mixed_7a = InceptionD(768)
        self.Mixed_7b = FIDInceptionE(1280, "avg")
        self.Mixed_7c = FIDInceptionE(2048, "max")
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.dropout = nn.Dropout(p=0.5)
        self.fc = nn.Linear(2048, 1008)

    def forward(self, x):
        """pytorch-fid's InceptionV3 (resize, blocks 0-3) for pool3, then the fc for logits."""
        x = F.interpolate(x, size=(299, 299), mode="bilinear", align_corners=False)
        for name in ["Conv2d_1a_3x3", "Conv2d_2a_3x3", "Conv2d_2b_3x3", "maxpool1", "Conv2d_3b_1x1",
                     "Conv2d_4a_3x3", "maxpool2", "Mixed_5b", "Mixed_5c", "Mixed_5d", "Mixed_6a", "Mixed_6b",
                     "Mixed_6c", "Mixed_6d", "Mixed_6e", "Mixed_7a", "Mixed_7b", "Mixed_7c", "avgpool"]:
            x = getattr(self, name)(x)
        pool3 = torch.flatten(x, 1)
        return pool3, self.fc(self.dropout(pool3))


def test_weight(key, shape, g):
    r = torch.randn(shape, generator=g)
    if key.endswith("bn.weight"):
        return r.mul(0.1).add(1)
    if key.endswith("bn.bias") or key.endswith("running_mean"):
        return r.mul(0.1)
    if key.endswith("running_var"):
        return r.abs().mul(0.1).add(1)
    if key == "fc.weight":
        return r.mul(math.sqrt(1 / 2048))
    if key == "fc.bias":
        return r.mul(0.1)
    fan_in = shape[1] * shape[2] * shape[3]
    return r.mul(math.sqrt(2 / fan_in))


def main():
    torch.set_num_threads(2)
    net = FIDInception3().eval()
    keys = [k for k in net.state_dict() if not k.endswith("num_batches_tracked")]
    g = torch.Generator().manual_seed(SEED)
    weights = {k: test_weight(k, tuple(net.state_dict()[k].shape), g) for k in keys}
    net.load_state_dict(weights, strict=False)
    x = torch.rand((2, 3, 40, 40), generator=torch.Generator().manual_seed(INPUT_SEED)) * 2 - 1
    with torch.no_grad():
        pool3, logits = net(x)
        pool3_64, logits_64 = net.double()(x.double())
    noise = {"features": float((pool3.double() - pool3_64).abs().max()), "logits": float((logits.double() - logits_64).abs().max())}
    golden = {
        "seed": SEED, "inputSeed": INPUT_SEED, "inputShape": [2, 3, 40, 40],
        "keys": keys, "shapes": {k: list(weights[k].shape) for k in keys},
        "checksums": {k: [float(weights[k].double().sum()), float(weights[k].flatten()[0])] for k in keys},
        "inputSum": float(x.double().sum()),
        "numParameters": sum(weights[k].numel() for k in keys if "running" not in k),
        "float32Noise": noise,
        "scale": {"features": float(pool3.abs().max()), "logits": float(logits.abs().max())},
    }
    with open(os.path.join(HERE, "eval_inception.json"), "w") as f:
        json.dump(golden, f)
    _convert.save_safetensors(os.path.join(HERE, "eval_inception.safetensors"), {"features": pool3, "logits": logits})
    print(f"{len(keys)} tensors, {golden['numParameters']} parameters; scale {golden['scale']}; float32 noise {noise}")


if __name__ == "__main__":
    main()
