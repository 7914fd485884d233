"""PyTorch eager side of bench/autoencoder.mjs: the digits-vae-f4 autoencoder (the golden
tests' mirror, test/golden/autoencoder_gen.py), L1 + β·KL with the reparameterised sample,
AdamW, batch 64, 28×28×1; then encoding (posterior mean) at batch 256. Prints one JSON line:
{"train": [seconds per step...], "encode": [seconds per batch...]}.

/usr/bin/python3 bench/autoencoder.py STEPS ENCODES THREADS
"""
import json
import os
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "packages", "diffuse", "test", "golden"))
from autoencoder_gen import AutoencoderKL  # noqa: E402

steps, encodes, threads = (int(v) for v in sys.argv[1:4])
torch.set_num_threads(threads)
torch.manual_seed(0)
o = dict(inChannels=1, channels=16, channelMult=[1, 2, 2], numResBlocks=1, zChannels=4, attention=False, imageSize=28)
model = AutoencoderKL(o)
opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0)
x = torch.rand(64, 1, 28, 28) * 2 - 1


def step():
    opt.zero_grad()
    mean, logvar = model.quant_conv(model.encoder(x)).chunk(2, dim=1)
    logvar = logvar.clamp(-30, 20)
    z = mean + (0.5 * logvar).exp() * torch.randn_like(mean)
    xrec = model.decoder(model.post_quant_conv(z))
    kl = 0.5 * (mean.pow(2) + logvar.exp() - 1 - logvar).sum(dim=[1, 2, 3]).mean()
    loss = (xrec - x).abs().mean() + 1e-6 * kl / 784
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()


train = []
step()  # warm-up
for _ in range(steps):
    t = time.perf_counter()
    step()
    train.append(time.perf_counter() - t)
xe = torch.rand(256, 1, 28, 28) * 2 - 1
enc = []
with torch.no_grad():
    model.quant_conv(model.encoder(xe))
    for _ in range(encodes):
        t = time.perf_counter()
        model.quant_conv(model.encoder(xe)).chunk(2, dim=1)[0].contiguous()
        enc.append(time.perf_counter() - t)
print(json.dumps({"train": train, "encode": enc}))
