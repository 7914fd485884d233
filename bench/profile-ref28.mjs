// Where a ref-28 step's time goes: torch.profile() over 3 steps of the UNet at batch 64 —
// forward, a mean-square loss, backward and AdamW ('train'), or a no-grad forward ('fwd') —
// per operator, self and total milliseconds per step (docs/performance.md, "Optimizations").
//
//   DIFFUSE_THREADS=1 node bench/profile-ref28.mjs [fp32|bf16] [train|fwd] [--wall]
//
// The default clock is this thread's CPU time, which other processes on a shared machine do not
// inflate; it is exact with one libtorch thread and misses worker threads otherwise (--wall then).
const torch = await import('@diffuse/torch');
const diffuse = await import('diffuse');

const [precision = 'bf16', what = 'train'] = process.argv.slice(2).filter((a) => !a.startsWith('--'));
const wall = process.argv.includes('--wall');
torch.manualSeed(0);
const model = diffuse.createUNet(diffuse.resolveConfig('ref-28'));
torch.nn.setComputeDtype(model, diffuse.computeDtypeFor(precision === 'bf16' ? 'bf16' : 'fp32'));
const optimizer = new torch.optim.AdamW(model.parameters(), { lr: 2e-4 });
const x = torch.randn([64, 1, 28, 28]); // (B, C, H, W)
const t = torch.randint(0, 1000, [64]); // (B,)

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
console.log(`ref-28 ${what}, ${precision}, batch 64, ${torch.getNumThreads()} thread(s), ${wall ? 'wall' : 'CPU'} clock, per step:`);
console.log(torch.formatProfile(ops, 25, 3));
