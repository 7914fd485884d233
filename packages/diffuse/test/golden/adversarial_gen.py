"""Golden values for the VQGAN adversarial loss (test/adversarial.test.ts).

A PyTorch mirror of models/patch-discriminator.ts — taming-transformers' NLayerDiscriminator
(taming/modules/discriminator/model.py) with our module names — and of train/adversarial.ts:
taming's hinge_d_loss / vanilla_d_loss, the generator loss −mean D(x̂), and
VQLPIPSWithDiscriminator.calculate_adaptive_weight, on a tiny two-conv decoder standing in for G.

Run with Debian's PyTorch 1.13:  /usr/bin/python3 packages/diffuse/test/golden/adversarial_gen.py
Writes adversarial_golden.json next to this script (weights included: they are small).
"""
import json
import os

import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
torch.set_num_threads(1)
torch.manual_seed(0)


class DiscBlock(nn.Module):
    def __init__(self, cin, cout, stride, norm):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 4, stride, 1, bias=not norm)
        self.norm = nn.BatchNorm2d(cout) if norm else None

    def forward(self, x):
        h = self.conv(x)
        if self.norm is not None:
            h = self.norm(h)
        return F.leaky_relu(h, 0.2)


def n_layer_discriminator(cin, ndf, n_layers):
    """taming's NLayerDiscriminator, layer for layer."""
    layers = [DiscBlock(cin, ndf, 2, False)]
    mult = 1
    for n in range(1, n_layers):
        prev, mult = mult, min(2 ** n, 8)
        layers.append(DiscBlock(ndf * prev, ndf * mult, 2, True))
    prev, mult = mult, min(2 ** n_layers, 8)
    layers.append(DiscBlock(ndf * prev, ndf * mult, 1, True))
    layers.append(nn.Conv2d(ndf * mult, 1, 4, 1, 1))
    return Disc(nn.Sequential(*layers))


class Disc(nn.Module):
    def __init__(self, main):
        super().__init__()
        self.main = main

    def forward(self, x):
        return self.main(x)


def hinge_d_loss(logits_real, logits_fake):
    return 0.5 * (torch.mean(F.relu(1.0 - logits_real)) + torch.mean(F.relu(1.0 + logits_fake)))


def vanilla_d_loss(logits_real, logits_fake):
    return 0.5 * (torch.mean(F.softplus(-logits_real)) + torch.mean(F.softplus(logits_fake)))


def calculate_adaptive_weight(nll_loss, g_loss, last_layer, disc_weight):
    nll_grads = torch.autograd.grad(nll_loss, last_layer, retain_graph=True)[0]
    g_grads = torch.autograd.grad(g_loss, last_layer, retain_graph=True)[0]
    d_weight = torch.norm(nll_grads) / (torch.norm(g_grads) + 1e-4)
    d_weight = torch.clamp(d_weight, 0.0, 1e4).detach()
    return d_weight * disc_weight


def flat(t):
    return [float(f"{v:.9g}") for v in t.detach().flatten().tolist()]


def state(m):
    return {k: {"shape": list(v.shape), "data": flat(v.float())} for k, v in m.state_dict().items() if k.find("num_batches") < 0}


# Discriminator: random weights (BatchNorm scales near 1), train mode (batch statistics).
disc = n_layer_discriminator(1, 4, 2)
with torch.no_grad():
    for k, p in disc.named_parameters():
        p.copy_(torch.randn_like(p) * (0.1 if p.dim() == 1 else 0.3) + (1.0 if ".norm.weight" in k else 0.0))
weights = state(disc)
x = torch.randn(2, 1, 16, 16).requires_grad_(True)
logits = disc(x)
r = torch.randn_like(logits)
(logits * r).sum().backward()
disc_case = {"options": {"inChannels": 1, "channels": 4, "numLayers": 2}, "weights": weights, "x": flat(x), "logits": flat(logits),
             "logitsShape": list(logits.shape), "r": flat(r), "xGrad": flat(x.grad)}

# Losses on logits of both signs.
lr_, lf_ = torch.randn(2, 1, 3, 3) * 1.5, torch.randn(2, 1, 3, 3) * 1.5
loss_case = {"real": flat(lr_), "fake": flat(lf_), "hinge": hinge_d_loss(lr_, lf_).item(), "vanilla": vanilla_d_loss(lr_, lf_).item(),
             "g": (-torch.mean(lf_)).item()}

# Adaptive weight: a tiny decoder z → conv → SiLU → conv (its weight is G_L), L1 reconstruction.
dec = nn.Sequential(nn.Conv2d(2, 4, 3, padding=1), nn.SiLU(), nn.Conv2d(4, 1, 3, padding=1))
z, target = torch.randn(2, 2, 16, 16), torch.randn(2, 1, 16, 16).clamp(-1, 1)
xrec = dec(z)
rec = (target - xrec).abs().mean()
g_loss = -torch.mean(disc(xrec))
lam = calculate_adaptive_weight(rec, g_loss, dec[2].weight, 0.8)
adaptive_case = {"decoder": state(dec), "z": flat(z), "target": flat(target), "rec": rec.item(), "g": g_loss.item(), "lambda": lam.item(), "discWeight": 0.8}

out = {"torch": torch.__version__, "disc": disc_case, "losses": loss_case, "adaptive": adaptive_case}
with open(os.path.join(HERE, "adversarial_golden.json"), "w") as f:
    json.dump(out, f, separators=(",", ":"))
print("wrote adversarial_golden.json; λ =", lam.item(), "logits", list(logits.shape))
