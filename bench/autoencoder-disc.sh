#!/bin/bash
# The measured effect of VQGAN's patch discriminator on the bundled digits (docs/autoencoders.md):
# digits-vq trained for the same number of steps without and with the discriminator (on from half
# way), each on 1 thread, then reconstruction MSE/PSNR on the 2,000 held-out digits, the digits FID
# of those reconstructions against them (rFID), and both preview grids.
# About 3 + 5 CPU-minutes on an idle Xeon core. Run it alone (other engineers: under the lock):
#   flock /tmp/bench.lock nice -n 10 bench/autoencoder-disc.sh /tmp/discm
# Env: STEPS (default 800), DISC_WEIGHT (0.8, taming's VQGAN configs).
set -euo pipefail
OUT=${1:?usage: bench/autoencoder-disc.sh OUT_DIR}
STEPS=${STEPS:-800}
W=${DISC_WEIGHT:-0.8}
D="node $(dirname "$0")/../packages/diffuse/bin/diffuse.js"
mkdir -p "$OUT"
echo "== $(date -u +%FT%TZ) $(lscpu | sed -n 's/^Model name: *//p'); load $(cut -d' ' -f1-3 /proc/loadavg)"
common=(--preset digits-vq --steps "$STEPS" --minutes 0 --threads 1 --log-interval 100 --save-interval "$STEPS")
for run in plain disc; do
  extra=()
  [ "$run" = disc ] && extra=(--disc-weight "$W" --disc-start $((STEPS / 2)))
  /usr/bin/time -f "   $run: %U s user, %e s wall" $D autoencoder train "${common[@]}" "${extra[@]}" --out "$OUT/vq-$run" | grep -E "^(step|done|with a)"
  echo "   load $(cut -d' ' -f1-3 /proc/loadavg)"
done
for run in plain disc; do
  $D autoencoder reconstruct --threads 1 --checkpoint "$OUT/vq-$run" --out "$OUT/vq-$run.png" --npz "$OUT/vq-$run.npz"
  $D fid "$OUT/vq-$run.npz" mnist:test --threads 1 | grep -E "^(FID|KID|precision|confident)"
done
echo "== end $(date -u +%FT%TZ); load $(cut -d' ' -f1-3 /proc/loadavg)"
