// `diffuse fid A B`: FID, KID, Inception Score and precision/recall of image set A (samples)
// against B (the reference, e.g. the bundled digits), on a fixed feature network.
import { evaluateImageSets, type Evaluation } from '../../eval/evaluate.js';
import { defaultExtractorName, FEATURE_NETWORKS, loadExtractor, type FeatureNetworkName } from '../../eval/features/registry.js';
import { DIGIT_SETS, imageSetKind } from '../../eval/image-sets.js';
import { UsageError } from '../args.js';
import { applyMachineFlags, THREADS_FLAG } from '../common-flags.js';
import type { Command } from '../main.js';
import { Progress } from '../progress.js';
import { writeFidReport } from '../../report/eval-report.js';

const SETS = `${Object.keys(DIGIT_SETS).join(', ')}, an .npz (arr_0 uint8 N×H×W×C) or an image folder`;

/** The report as lines for the terminal. */
export function formatEvaluation(r: Evaluation): string[] {
  const pm = (m: number, s: number, digits: number): string => `${m.toFixed(digits)} ± ${s.toFixed(digits)}`;
  const lines = [
    `FID        ${r.fid.toFixed(3)}`,
    `KID        ${pm(r.kid.mean, r.kid.std, 5)}   (${r.kid.subsets} subsets of ${r.kid.subsetSize})`,
  ];
  if (r.inceptionScore) lines.push(`IS         ${pm(r.inceptionScore.a.mean, r.inceptionScore.a.std, 3)} (A)   ${pm(r.inceptionScore.b.mean, r.inceptionScore.b.std, 3)} (B)`);
  lines.push(
    `precision  ${r.precision.toFixed(4)}   recall ${r.recall.toFixed(4)}   (k = ${r.k})`,
  );
  if (r.confident) lines.push(`confident  ${r.confident.a.toFixed(4)} (A)   ${r.confident.b.toFixed(4)} (B)   (share with top class probability > ${r.confident.threshold})`);
  lines.push(
    '',
    `features:  ${r.features.name} (${r.features.dim}-d, ${r.features.id})`,
    `A:         ${r.a.spec} (${r.a.n} images)`,
    `B:         ${r.b.spec} (${r.b.n} images${r.b.cached ? ', features from the cache' : r.b.cacheFile ? ', features now cached' : ''})`,
    `time:      ${r.seconds.toFixed(1)} s`,
  );
  return lines;
}

export const command: Command = {
  spec: {
    name: 'fid',
    summary: 'FID, KID, Inception Score, precision/recall and confident-classifier share of samples against a reference set',
    usage: `diffuse fid A B [--features digits|inception] [--inception-weights FILE] [--batch-size N] [--confident-threshold P] [--json] [--report DIR]   (A: the samples; B: the reference; each ${SETS})`,
    positionals: [{ name: 'A' }, { name: 'B' }],
    flags: [
      { key: 'features', type: 'string', choices: FEATURE_NETWORKS, help: 'feature network', defaultText: 'digits for 28×28 grayscale images, else inception', group: 'Features' },
      { key: 'inceptionWeights', type: 'string', help: "the FID Inception weights as safetensors (convert pytorch-fid's .pth with scripts/convert-inception-weights.py)", defaultText: '$DIFFUSE_INCEPTION_WEIGHTS' },
      { key: 'batchSize', type: 'int', min: 1, help: 'images per forward pass', defaultText: '50 (as pytorch-fid)' },
      { key: 'cache', type: 'bool', help: "cache B's features (--no-cache to recompute)", defaultText: 'true' },
      { key: 'kidSubsets', type: 'int', min: 1, help: 'KID subsets', defaultText: '100', group: 'Metrics' },
      { key: 'kidSubsetSize', type: 'int', min: 2, help: 'KID subset size (capped at the smaller set)', defaultText: '1000' },
      { key: 'k', type: 'int', min: 1, help: 'neighbourhood size of precision/recall', defaultText: '3' },
      { key: 'splits', type: 'int', min: 1, help: 'Inception Score splits', defaultText: '10' },
      { key: 'confidentThreshold', type: 'float', min: 0, max: 0.999999, help: 'top-class probability above which an image counts as confidently classified', defaultText: '0.9' },
      { key: 'seed', type: 'int', min: 0, help: 'seed of the KID subsets', defaultText: '0' },
      { key: 'json', type: 'bool', help: 'print the results as JSON on stdout', group: 'Output' },
      { key: 'report', type: 'string', help: 'also write DIR/fid.png, fid.svg and fid.html' },
      THREADS_FLAG,
    ],
  },
  async run(args) {
    const f = args.flags;
    applyMachineFlags(f);
    const [a, b] = args.positionals as [string, string];
    imageSetKind(a); // a missing set is reported before any network loads
    imageSetKind(b);
    const name = (f.features as FeatureNetworkName | undefined) ?? (await defaultExtractorName(a));
    const extractor = loadExtractor(name, { inceptionWeights: f.inceptionWeights as string | undefined });
    const progress = new Progress('features');
    const t0 = Date.now();
    try {
      const r = await evaluateImageSets(a, b, extractor, {
        batchSize: f.batchSize as number | undefined,
        cache: (f.cache as boolean | undefined) ?? true,
        k: f.k as number | undefined,
        splits: f.splits as number | undefined,
        confidentThreshold: f.confidentThreshold as number | undefined,
        kid: { subsets: f.kidSubsets as number | undefined, subsetSize: f.kidSubsetSize as number | undefined, seed: f.seed as number | undefined },
        progress: (set, done, total) => progress.update(done / total, (Date.now() - t0) / 1000, `${set === 'A' ? a : b}: ${done}/${total}`),
      }).catch((e: unknown) => {
        if (e instanceof RangeError) throw new UsageError(e.message); // e.g. too few images for k or the splits
        throw e;
      });
      progress.clear();
      console.log(f.json ? JSON.stringify(r, null, 2) : formatEvaluation(r).join('\n'));
      if (f.report !== undefined) console.error(`report: ${(await writeFidReport(f.report as string, r)).join(', ')}`);
    } finally {
      progress.clear();
      extractor.dispose();
    }
    return 0;
  },
};
