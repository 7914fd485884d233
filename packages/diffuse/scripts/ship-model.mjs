#!/usr/bin/env node
// Exports a training checkpoint as a small sampling-only model: the EMA weights as the model's
// weights, no optimizer or RNG state (a latent model: with its autoencoder). Used for packages/diffuse/models/:
//   node packages/diffuse/scripts/ship-model.mjs RUN_DIR packages/diffuse/models/digits-cpu [EMA_RATE]
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';

import * as torch from '@diffuse/torch';
import { loadCheckpoint } from 'diffuse';

const [src, dest, rateArg] = process.argv.slice(2);
if (!src || !dest) {
  console.error('usage: ship-model.mjs RUN_DIR DEST_DIR [EMA_RATE]');
  process.exit(2);
}
const ck = loadCheckpoint(src, { weightsOnly: true });
const rate = rateArg !== undefined ? Number(rateArg) : ck.state.emaRates[0];
const weights = rate === undefined ? ck.model : { ...ck.model, ...ck.ema.get(rate) };
mkdirSync(dest, { recursive: true });
torch.saveSafetensors(path.join(dest, 'model.safetensors'), weights, { source: `${path.basename(ck.dir)} EMA ${rate}` });
const state = {
  ...ck.state,
  optimizer: undefined,
  scheduleSampler: undefined,
  data: undefined,
  emaRates: [],
  shippedFrom: { step: ck.state.step, emaRate: rate ?? null },
};
// A latent model travels with its autoencoder: a copy of its weights in DEST/autoencoder, which
// the checkpoint names by a path relative to itself (the weights hash stays the check).
const latent = ck.state.config.autoencoder;
if (latent !== undefined) {
  const ae = loadCheckpoint(latent.path, { weightsOnly: true, emaRate: null });
  const aeDest = path.join(dest, 'autoencoder');
  mkdirSync(aeDest, { recursive: true });
  torch.saveSafetensors(path.join(aeDest, 'model.safetensors'), ae.model, { source: `autoencoder ${path.basename(ae.dir)}` });
  writeFileSync(path.join(aeDest, 'state.json'), JSON.stringify({ ...ae.state, optimizer: undefined, data: undefined, shippedFrom: { step: ae.state.step } }, null, 1) + '\n');
  torch.dispose(ae.model);
  state.config = { ...state.config, autoencoder: { ...latent, path: 'autoencoder' } };
}
writeFileSync(path.join(dest, 'state.json'), JSON.stringify(state, null, 1) + '\n');
console.log(`${dest}: step ${ck.state.step}, EMA ${rate} weights as the model${latent !== undefined ? ', its autoencoder in autoencoder/' : ''}`);
