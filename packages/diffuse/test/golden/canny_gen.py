"""Golden edge maps from OpenCV's Canny (packages/diffuse/test/control-canny.test.ts).

Run with Debian's python3 and python3-opencv (apt-get install python3-opencv):
    /usr/bin/python3 packages/diffuse/test/golden/canny_gen.py
Writes canny.json next to this file: per case the uint8 input image, the thresholds, the L2 flag
and cv2.Canny's output. Inputs: formula images with sharp and soft edges, ties and borders, and
noise (generated here, stored in the JSON).
"""
import json
import os

import cv2
import numpy as np

rng = np.random.default_rng(0)


def shapes(h, w):
    y, x = np.mgrid[0:h, 0:w]
    img = np.zeros((h, w), np.float64)
    img[(x - w * 0.35) ** 2 + (y - h * 0.4) ** 2 < (min(h, w) * 0.22) ** 2] = 200  # a disc
    img[int(h * 0.55):int(h * 0.85), int(w * 0.5):int(w * 0.9)] = 120  # a rectangle touching nothing
    img[:, : max(1, w // 12)] = 255  # an edge on the border
    img += 40 * np.sin(x / 3.0) * (y > h * 0.7)  # soft ramps
    return np.clip(img, 0, 255).astype(np.uint8)


def steps(h, w):
    """Plateaus with equal gradient magnitudes on both sides: the tie rules matter."""
    y, x = np.mgrid[0:h, 0:w]
    return (((x // 4) % 2) * 100 + ((y // 5) % 2) * 60 + ((x + y) // 7 % 2) * 50).astype(np.uint8)


def digit_like(h, w):
    y, x = np.mgrid[0:h, 0:w]
    ring = np.abs(np.hypot(x - w / 2, y - h / 2) - h * 0.3) < 2.2
    stroke = np.abs((x - w / 2) - 0.4 * (y - h / 2)) < 1.6
    img = (ring | stroke).astype(np.float64) * 255
    img = cv2.GaussianBlur(img, (3, 3), 0.8)
    return np.clip(img, 0, 255).astype(np.uint8)


cases = {}
images = {
    "shapes": shapes(32, 40),
    "steps": steps(28, 28),
    "digit": digit_like(28, 28),
    "noise": rng.integers(0, 256, (20, 24)).astype(np.uint8),
    "smooth_noise": cv2.GaussianBlur(rng.integers(0, 256, (28, 28)).astype(np.uint8), (5, 5), 1.5),
}
for name, img in images.items():
    for low, high, l2 in [(100, 200, False), (50, 150, False), (200, 100, False), (30.5, 90.7, True)]:
        edges = cv2.Canny(img, low, high, L2gradient=l2)
        cases[f"{name}_{low}_{high}{'_l2' if l2 else ''}"] = {
            "height": int(img.shape[0]), "width": int(img.shape[1]), "low": low, "high": high, "l2": l2,
            "image": img.flatten().tolist(), "edges": edges.flatten().tolist(),
        }

out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "canny.json")
with open(out, "w") as f:
    json.dump({"opencv": cv2.__version__, "cases": cases}, f, separators=(",", ":"))
    f.write("\n")
print(f"wrote {out}: {len(cases)} cases")
