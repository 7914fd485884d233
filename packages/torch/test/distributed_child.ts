// One rank of the distributed tests: RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT come from the
// parent (distributed.test.ts); argv[2] names the scenario; the results go to stdout as JSON.
import * as torch from '../src/index.js';
import type { Tensor } from '../src/index.js';

const dist = torch.distributed;
const scenario = process.argv[2];
torch.setNumThreads(1);

function out(v: unknown): void {
  process.stdout.write(JSON.stringify(v) + '\n');
}

async function collectives(): Promise<void> {
  const r = dist.getRank();
  const res: Record<string, unknown> = {};
  for (const dtype of ['float32', 'float64', 'bfloat16', 'float16', 'int32', 'int64', 'uint8', 'int8'] as const) {
    const t = torch.tensor([r + 1, 2 * (r + 1), 3], { dtype });
    dist.allReduce(t, 'sum');
    res[`sum_${dtype}`] = [t.dtype, t.toArray()];
  }
  for (const op of ['max', 'min', 'product'] as const) {
    const t = torch.tensor([r, -r, r + 2], { dtype: 'int64' });
    dist.allReduce(t, op);
    res[op] = t.toArray();
  }
  const a = torch.tensor([r, 1, 2 * r], { dtype: 'float64' });
  dist.allReduce(a, 'avg');
  res.avg = a.toArray();
  // A transposed (non-contiguous) view: the result must land in the view's own elements.
  const base = torch.arange(6, undefined, 1, { dtype: 'float32' }).reshape([2, 3]).mul(r + 1);
  const nc = base.t();
  dist.allReduce(nc, 'sum');
  res.nonContiguous = { contiguous: nc.isContiguous(), values: base.toNested() };
  const b = torch.tensor([r * 10, r * 10 + 1], { dtype: 'int32' });
  dist.broadcast(b, dist.getWorldSize() - 1);
  res.broadcast = b.toArray();
  const bnc = torch.arange(4, undefined, 1, { dtype: 'float32' }).reshape([2, 2]).add(r * 100).t();
  dist.broadcast(bnc, 1);
  res.broadcastNonContiguous = bnc.toNested();
  res.allGather = dist.allGather(torch.tensor([r, r * r], { dtype: 'float32' })).map((t: Tensor) => t.toArray());
  dist.barrier();
  // Async: start two, wait off the JS thread.
  const x = torch.tensor([r + 1], { dtype: 'float32' });
  const y = torch.tensor([10 * (r + 1)], { dtype: 'float32' });
  const wx = dist.allReduceAsync(x, 'sum');
  const wy = dist.allReduceAsync(y, 'max');
  await Promise.all([wx.waitAsync(), wy.waitAsync()]);
  res.async = [x.toArray()[0], y.toArray()[0], wx.isCompleted()];
  const wg = dist.allGatherAsync(torch.tensor([r], { dtype: 'int64' }));
  res.asyncGather = (await wg.waitAsync()).map((t: Tensor) => t.toArray()[0]);
  await dist.barrierAsync().waitAsync();
  out(res);
}

// A small MLP: each rank seeds differently, so equal results prove the broadcast from rank 0.
function mlp(seed: number): torch.nn.Module & { forward(x: Tensor): Tensor } {
  torch.manualSeed(seed);
  class MLP extends torch.nn.Module {
    a = this.addModule('a', new torch.nn.Linear(5, 16));
    b = this.addModule('b', new torch.nn.Linear(16, 16));
    c = this.addModule('c', new torch.nn.Linear(16, 3));
    forward(x: Tensor): Tensor {
      return this.c.forward(this.b.forward(this.a.forward(x).silu()).silu());
    }
  }
  return new MLP();
}

function grads(m: torch.nn.Module): number[][] {
  return m.parameters().map((p) => p.grad!.toArray() as number[]);
}

function ddp(): void {
  const r = dist.getRank();
  const n = dist.getWorldSize();
  const B = 4 * n;
  torch.manualSeed(1234);
  const x = torch.randn([B, 5]);
  const y = torch.randn([B, 3]);
  const model = mlp(100 + r);
  // bucketCapMB small enough to make several buckets of this model (~1.8 KB of weights).
  const ddpModel = new torch.nn.DistributedDataParallel(model, { bucketCapMB: 0.0005 });
  const local = (lo: number, hi: number): [Tensor, Tensor] => [x.narrow(0, lo, hi - lo), y.narrow(0, lo, hi - lo)];
  const per = B / n;
  const [xl, yl] = local(r * per, (r + 1) * per);
  const loss = ddpModel.forward((m) => torch.mseLoss(m.forward(xl), yl));
  loss.backward();
  const synced = grads(model);
  // Reference: the same weights (rank 0's, now on every rank), the whole batch, one process.
  const ref = mlp(0);
  ref.loadStateDict(model.stateDict());
  torch.mseLoss(ref.forward(x), y).backward();
  // noSync: two local microbatches accumulate without communication, the second synchronises.
  model.zeroGrad();
  const half = per / 2;
  ddpModel.noSync(() => {
    const [xa, ya] = local(r * per, r * per + half);
    ddpModel.forward((m) => torch.mseLoss(m.forward(xa), ya).mul(0.5)).backward();
  });
  const afterLocal = grads(model);
  const [xb, yb] = local(r * per + half, (r + 1) * per);
  ddpModel.forward((m) => torch.mseLoss(m.forward(xb), yb).mul(0.5)).backward();
  out({ weights: model.parameters().map((p) => p.toArray()), synced, reference: grads(ref), accumulated: grads(model), afterLocal });
}

try {
  const timeoutMs = Number(process.env.DIST_TIMEOUT_MS ?? 20000);
  if (scenario === 'init-only') {
    dist.initProcessGroup({ timeoutMs, initMethod: process.env.DIST_INIT ?? 'env://' });
    out({ ok: true });
  } else if (scenario === 'die') {
    // Rank 1 dies in the middle; the others are in an all-reduce that must fail, not hang.
    dist.initProcessGroup({ timeoutMs });
    dist.barrier();
    if (dist.getRank() === 1) process.kill(process.pid, 'SIGKILL');
    const t = torch.ones([1 << 16]);
    for (let i = 0; i < 1000; i++) dist.allReduce(t, 'sum');
    out({ survived: true });
  } else {
    dist.initProcessGroup({ timeoutMs });
    if (scenario === 'collectives') await collectives();
    else if (scenario === 'ddp') ddp();
    else throw new Error(`unknown scenario ${scenario}`);
    dist.barrier();
    dist.destroyProcessGroup();
  }
} catch (e) {
  process.stderr.write(`ERROR ${(e as Error).message}\n`);
  process.exit(3);
}
