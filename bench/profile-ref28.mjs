// Where a training step's or a forward's time goes: torch.profile() over 3 steps of a preset's
// model at its batch size — forward, a mean-square loss, backward and AdamW ('train'), or a
// no-grad forward as DDIM sampling calls it ('fwd') — per operator, self and total milliseconds
// per step and each operator's share (docs/performance.md "Optimizations" for ref-28, the UNet;
// docs/dit.md "Where the time goes" for digits-dit, the DiT).
//
//   DIFFUSE_THREADS=1 node bench/profile-ref28.mjs [fp32|bf16] [train|fwd] [--preset NAME] [--batch B] [--wall]
//
// The default preset is ref-28 at batch 64; another preset profiles at its own batch size unless
// --batch is given. The default clock is this thread's CPU time, which other processes on a shared
// machine do not inflate; it is exact with one libtorch thread and misses worker threads otherwise
// (--wall then).
const torch = await import('@diffuse/torch');
const diffuse = await import('diffuse');

const argv = process.argv.slice(2);
const option = (name) => (argv.includes(name) ? argv[argv.indexOf(name) + 1] : undefined);
const valued = new Set(['--preset', '--batch'].flatMap((n) => (argv.includes(n) ? [argv.indexOf(n) + 1] : [])));
const [precision = 'bf16', what = 'train'] = argv.filter((a, i) => !a.startsWith('--') && !valued.has(i));
const wall = argv.includes('--wall');
const preset = option('--preset') ?? 'ref-28';
const cfg = diffuse.resolveConfig(preset);
const batch = Number(option('--batch') ?? (preset === 'ref-28' ? 64 : cfg.optim.batchSize));
const { imageSize: size, channels } = cfg.model;
torch.manualSeed(0);
const model = diffuse.createBackbone(cfg);
torch.nn.setComputeDtype(model, diffuse.computeDtypeFor(precision === 'bf16' ? 'bf16' : 'fp32'));
const optimizer = new torch.optim.AdamW(model.parameters(), { lr: 2e-4 });
const x = torch.randn([batch, channels, size, size]); // (B, C, H, W)
const t = torch.randint(0, 1000, [batch]); // (B,)

const train = () =>
  torch.tidy(() => {
    const loss = model.forward(x, t).square().mean();
    optimizer.zeroGrad();
    loss.backward();
    optimizer.step();
  });
const forward = () => {
  model.eval();
  torch.noGrad(() => torch.tidy(() => void model.forward(x, t)));
  model.train();
};
const step = what === 'fwd' ? forward : train;
step();
step(); // warm-up: oneDNN primitives, AdamW state, allocator
const { ops } = torch.profile(() => { for (let i = 0; i < 3; i++) step(); }, { clock: wall ? 'wall' : 'cpu' });
console.log(`${preset} ${what}, ${precision}, batch ${batch}, ${size}×${size}×${channels}, ${torch.getNumThreads()} thread(s), ${wall ? 'wall' : 'CPU'} clock, per step:`);
console.log(torch.formatProfile(ops, 25, 3));
