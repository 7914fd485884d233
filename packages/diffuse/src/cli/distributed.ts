// Data-parallel training from the CLI, as torchrun does it: `--nproc-per-node N` makes this
// process a launcher that starts N workers (the same command, each with RANK, LOCAL_RANK,
// WORLD_SIZE, MASTER_ADDR, MASTER_PORT and its share of the threads) and watches them; a process
// started with RANK and WORLD_SIZE set (by this launcher or by torchrun) is a worker and joins
// the process group. Several machines: the same command on each, with --nnodes, --node-rank and
// node 0's --master-addr / --master-port.
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';

import * as torch from '@diffuse/torch';

import { kebab, UsageError, type FlagSpec, type FlagValue } from './args.js';

export const DISTRIBUTED_FLAGS: FlagSpec[] = [
  { key: 'nprocPerNode', type: 'int', min: 1, max: 1024, help: 'data-parallel: start N worker processes on this machine, the threads split among them (the batch is global)', group: 'Distributed (data-parallel, Gloo)' },
  { key: 'nnodes', type: 'int', min: 1, help: 'machines taking part; run the same command on each with its --node-rank', defaultText: '1' },
  { key: 'nodeRank', type: 'int', min: 0, help: "this machine's index in [0, nnodes)", defaultText: '0' },
  { key: 'masterAddr', type: 'string', help: "node 0's address, where the rendezvous store listens", defaultText: '127.0.0.1' },
  { key: 'masterPort', type: 'int', min: 1, max: 65535, help: 'port of the rendezvous store', defaultText: 'a free port on one machine, else 29500' },
  { key: 'distTimeout', type: 'float', min: 1, help: 'seconds a worker waits for the others (rendezvous, each collective) before it stops with an error', defaultText: '300' },
];

/** The flags only the launcher reads: its workers get the rest of the command line. */
const LAUNCHER_ONLY = ['nprocPerNode', 'nnodes', 'nodeRank', 'masterAddr', 'masterPort', 'threads'];

export type DistributedRole =
  | { kind: 'single' }
  | { kind: 'launch'; nproc: number; nnodes: number; nodeRank: number; masterAddr: string; masterPort: number | undefined; threads: number }
  | { kind: 'worker'; rank: number; worldSize: number; localRank: number };

/** What this `diffuse train` process is: a plain run, a launcher, or one worker. */
export function distributedRole(flags: Record<string, FlagValue>): DistributedRole {
  if (flags.nprocPerNode !== undefined) {
    const nnodes = (flags.nnodes as number | undefined) ?? 1;
    const nodeRank = (flags.nodeRank as number | undefined) ?? 0;
    if (nodeRank >= nnodes) throw new UsageError(`--node-rank ${nodeRank} must be below --nnodes ${nnodes}`);
    if (nnodes > 1 && flags.masterAddr === undefined) throw new UsageError('--nnodes above 1 needs --master-addr (the address of node 0, which every machine can reach)');
    if (flags.device === 'cuda') throw new UsageError("--nproc-per-node trains on the CPU with Gloo; this build has no NCCL for --device cuda");
    return {
      kind: 'launch',
      nproc: flags.nprocPerNode as number,
      nnodes,
      nodeRank,
      masterAddr: (flags.masterAddr as string | undefined) ?? '127.0.0.1',
      masterPort: flags.masterPort as number | undefined,
      // What this process would use alone (--threads, DIFFUSE_THREADS, OMP_NUM_THREADS, the cores).
      threads: (flags.threads as number | undefined) ?? torch.getNumThreads(),
    };
  }
  for (const k of ['nnodes', 'nodeRank', 'masterAddr', 'masterPort']) {
    if (flags[k] !== undefined) throw new UsageError(`--${kebab(k)} belongs with --nproc-per-node N (the workers per machine)`);
  }
  const env = process.env;
  if (env.RANK !== undefined && env.WORLD_SIZE !== undefined) {
    const num = (name: string): number => {
      const v = Number(env[name]);
      if (!Number.isInteger(v) || v < 0) throw new UsageError(`$${name} must be a non-negative integer, got '${env[name]}'`);
      return v;
    };
    const rank = num('RANK');
    const worldSize = num('WORLD_SIZE');
    if (worldSize < 1 || rank >= worldSize) throw new UsageError(`$RANK ${rank} must be below $WORLD_SIZE ${worldSize}`);
    if (flags.device === 'cuda') throw new UsageError("data-parallel training runs on the CPU with Gloo; this build has no NCCL for --device cuda");
    return { kind: 'worker', rank, worldSize, localRank: env.LOCAL_RANK !== undefined ? num('LOCAL_RANK') : 0 };
  }
  return { kind: 'single' };
}

/** Joins the process group as a worker (MASTER_ADDR / MASTER_PORT from the environment). */
export function joinProcessGroup(role: Extract<DistributedRole, { kind: 'worker' }>, flags: Record<string, FlagValue>): void {
  if (!process.env.MASTER_ADDR || !process.env.MASTER_PORT) throw new UsageError('a worker (RANK and WORLD_SIZE set) needs MASTER_ADDR and MASTER_PORT too');
  const timeoutMs = ((flags.distTimeout as number | undefined) ?? 300) * 1000;
  try {
    torch.distributed.initProcessGroup({ backend: 'gloo', initMethod: 'env://', rank: role.rank, worldSize: role.worldSize, timeoutMs });
  } catch (e) {
    throw new UsageError(`${(e as Error).message} — check --master-addr / --master-port (node 0 must be reachable, the port free there)`);
  }
}

/** A failure in the collectives as one line: Gloo's messages name files of its source tree. */
export function workerFailure(rank: number, e: unknown): string {
  const line = ((e as Error)?.message ?? String(e)).split('\n')[0]!.replace(/\[[^\]]*\.cc:\d+\] /g, '');
  return line.startsWith('distributed') ? line : `rank ${rank}: ${line}`;
}

async function freePort(host: string): Promise<number> {
  const s = createServer();
  await new Promise<void>((res, rej) => {
    s.once('error', rej);
    s.listen(0, host, res);
  });
  const port = (s.address() as { port: number }).port;
  await new Promise((res) => s.close(res));
  return port;
}

/** argv without the launcher's own flags (`--flag value` and `--flag=value`). */
function workerArgv(argv: string[]): string[] {
  const drop = new Set(LAUNCHER_ONLY.map((k) => `--${kebab(k)}`));
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const name = a.split('=')[0]!;
    if (drop.has(name)) {
      if (!a.includes('=')) i++;
      continue;
    }
    out.push(a);
  }
  return out;
}

// Lines a worker prints because another one died (a broken connection, a timeout waiting for it).
const CONSEQUENCE = /distributed \(rank \d+\)|Connection (closed|reset)|timed out|peer/i;
const SIGNAL_CODE: Record<string, number> = { SIGINT: 130, SIGTERM: 143 };

/**
 * Starts this machine's workers and waits for them. A worker that dies (a signal, a non-zero
 * exit) is named in one line; the others then fail on their broken connections and are killed
 * if they have not stopped within a few seconds. SIGINT/SIGTERM go to every worker (they agree
 * on a step, rank 0 writes one checkpoint). Returns the exit code.
 */
export async function launch(role: Extract<DistributedRole, { kind: 'launch' }>): Promise<number> {
  const port = role.masterPort ?? (role.nnodes === 1 ? await freePort(role.masterAddr) : 29500);
  const threads = Math.max(1, Math.floor(role.threads / role.nproc));
  const worldSize = role.nproc * role.nnodes;
  const script = process.argv[1]!;
  const args = [...process.execArgv, script, ...workerArgv(process.argv.slice(2))];
  let failure: { rank: number; text: string } | null = null;
  let signal: string | null = null;
  const printed = new Set<string>();
  const spoke = new Set<number>();
  const held: { rank: number; line: string; at: number }[] = [];

  const emit = (rank: number, line: string): void => {
    // The same line from every rank (bad input all of them read) is printed once.
    const key = line.replace(/rank \d+/g, 'rank _');
    spoke.add(rank);
    if (printed.has(key)) return;
    printed.add(key);
    process.stderr.write(line + '\n');
  };
  const flush = (all: boolean): void => {
    const now = Date.now();
    while (held.length > 0 && (all || now - held[0]!.at > 300)) {
      const h = held.shift()!;
      if (failure !== null && h.rank !== failure.rank && CONSEQUENCE.test(h.line)) continue;
      emit(h.rank, h.line);
    }
  };
  const timer = setInterval(() => flush(false), 100);

  const children: ChildProcess[] = [];
  const exits: Promise<void>[] = [];
  const codes: (number | null)[] = [];
  for (let local = 0; local < role.nproc; local++) {
    const rank = role.nodeRank * role.nproc + local;
    const env = {
      ...process.env,
      RANK: String(rank),
      LOCAL_RANK: String(local),
      WORLD_SIZE: String(worldSize),
      LOCAL_WORLD_SIZE: String(role.nproc),
      MASTER_ADDR: role.masterAddr,
      MASTER_PORT: String(port),
      DIFFUSE_THREADS: String(threads),
      OMP_NUM_THREADS: String(threads),
      // c10d logs its socket retries through glog; failures reach the worker as errors anyway.
      GLOG_minloglevel: process.env.GLOG_minloglevel ?? '3',
    };
    const child = spawn(process.execPath, args, { env, stdio: ['ignore', 'inherit', 'pipe'] });
    children.push(child);
    let rest = '';
    child.stderr!.on('data', (d: Buffer) => {
      const lines = (rest + d.toString()).split('\n');
      rest = lines.pop()!;
      // Progress bars (\r) and ordinary lines of rank 0 pass at once; the rest waits a moment to
      // see whether it is only the echo of another worker's death.
      for (const line of lines) held.push({ rank, line, at: Date.now() });
    });
    exits.push(
      new Promise((resolve) => {
        // 'close', not 'exit': it comes after the last of the worker's stderr has been read, so a
        // line written just before exiting (rank 0's "SIGINT received") is not lost to the race.
        child.on('close', (code, sig) => {
          codes[local] = code ?? (sig ? 128 + (sig === 'SIGKILL' ? 9 : sig === 'SIGTERM' ? 15 : sig === 'SIGINT' ? 2 : 1) : 1);
          const expected = signal !== null && (code === SIGNAL_CODE[signal] || code === 0);
          if (failure === null && !expected && code !== 0) {
            failure = { rank, text: sig ? `was killed by ${sig}` : `exited with code ${code}` };
            // The others notice the broken connections; any that do not are stopped.
            const kill = setTimeout(() => children.forEach((c) => c.exitCode === null && c.signalCode === null && c.kill('SIGKILL')), 5000);
            kill.unref();
          }
          if (rest) held.push({ rank, line: rest, at: Date.now() });
          resolve();
        });
      }),
    );
  }
  const forward = (s: NodeJS.Signals): void => {
    signal ??= s;
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill(s);
  };
  process.on('SIGINT', forward);
  process.on('SIGTERM', forward);
  try {
    await Promise.all(exits);
  } finally {
    process.off('SIGINT', forward);
    process.off('SIGTERM', forward);
    clearInterval(timer);
  }
  flush(true);
  const f = failure as { rank: number; text: string } | null;
  if (f !== null) {
    // A worker that said why it failed has said it; a killed one gets this line.
    if (!spoke.has(f.rank) || f.text.startsWith('was killed')) process.stderr.write(`diffuse: worker rank ${f.rank} ${f.text}; the ${worldSize - 1} other worker(s) stopped (the last checkpoint is intact)\n`);
    const code = codes[f.rank - role.nodeRank * role.nproc];
    return code === 2 ? 2 : 1;
  }
  if (signal !== null) return SIGNAL_CODE[signal] ?? 1;
  return codes.find((c) => c !== 0) ?? 0;
}
