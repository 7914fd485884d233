"""Checkpoints in improved-diffusion's / guided-diffusion's own format for the import tests.

Written for this project: the UNet mirror of unet_gen.py (improved-diffusion's module names) is
built as those codebases build it from their flags (no null class: their label embedding has
num_classes rows), every parameter drawn at random (N(0, 0.2^2), the zero-initialised ones too),
and saved with torch.save(model.state_dict(), ...) — the file format of their released
checkpoints (a zip with data.pkl and data/N storages). The released checkpoints themselves cannot
be downloaded on these machines.

Run with Debian's PyTorch 1.13:  /usr/bin/python3 packages/diffuse/test/golden/import_gen.py
Writes, next to this script:
  import_<name>.pt             the state dicts
  import_golden.safetensors    per checkpoint: inputs <name>.x, <name>.t, <name>.y and the output <name>.out
  import_golden.json           per checkpoint: the flags to import it with and the source codebase
"""
import json
import os

import torch

from unet_gen import UNetModel, write_safetensors

HERE = os.path.dirname(os.path.abspath(__file__))

CHECKPOINTS = {
    # improved-diffusion: channel_mult from image_size 32 -> (1, 2, 2, 2); attention "16" -> ds 2.
    "improved": dict(
        source="improved-diffusion",
        flags="--image_size 32 --num_channels 8 --num_res_blocks 1 --learn_sigma True --class_cond True "
              "--attention_resolutions 16 --num_heads 2 --dropout 0.1 --diffusion_steps 100 --noise_schedule cosine",
        model=dict(in_channels=3, model_channels=8, out_channels=6, num_res_blocks=1, attention_resolutions=[2],
                   dropout=0.1, channel_mult=(1, 2, 2, 2), num_classes=1000, num_heads=2, use_scale_shift_norm=True,
                   null_class=False),
        size=32, classes=1000),
    # guided-diffusion: explicit channel_mult, heads by width, BigGAN up/down, the new q/k/v order.
    "guided": dict(
        source="guided-diffusion",
        flags="--image_size 16 --channel_mult 1,1 --num_channels 32 --num_res_blocks 1 --attention_resolutions 8 "
              "--num_head_channels 16 --resblock_updown True --use_new_attention_order True --use_scale_shift_norm True "
              "--learn_sigma True --use_fp16 True --diffusion_steps 50 --noise_schedule linear --timestep_respacing 25",
        model=dict(in_channels=3, model_channels=32, out_channels=6, num_res_blocks=1, attention_resolutions=[2],
                   dropout=0.0, channel_mult=(1, 1), num_classes=None, num_head_channels=16, resblock_updown=True,
                   use_new_attention_order=True, use_scale_shift_norm=True, null_class=False),
        size=16, classes=None),
}


def main():
    goldens, meta = {}, {}
    for i, (name, c) in enumerate(CHECKPOINTS.items()):
        torch.manual_seed(100 + i)
        model = UNetModel(**c["model"])
        with torch.no_grad():
            for p in model.parameters():
                p.normal_(0, 0.2)
        model.eval()
        torch.save(model.state_dict(), os.path.join(HERE, f"import_{name}.pt"))
        x = torch.randn(2, 3, c["size"], c["size"])
        t = torch.tensor([3.0, 777.5])
        y = torch.tensor([5, 998]) if c["classes"] else None
        with torch.no_grad():
            out = model(x, t, y)
        goldens[f"{name}.x"] = x
        goldens[f"{name}.t"] = t
        goldens[f"{name}.out"] = out
        if y is not None:
            goldens[f"{name}.y"] = y
        meta[name] = {"source": c["source"], "flags": c["flags"], "file": f"import_{name}.pt"}
        print(name, sum(p.numel() for p in model.parameters()), "parameters")
    write_safetensors(os.path.join(HERE, "import_golden.safetensors"), goldens)
    with open(os.path.join(HERE, "import_golden.json"), "w") as f:
        json.dump(meta, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
