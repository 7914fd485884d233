// A command started through npm (`npx diffuse …`, `npm exec`, an npm script) runs as a child of
// npm, usually behind `sh -c`. A SIGTERM sent to the npx process alone — what docker, systemd or a
// job scheduler sends — ends npm and the shell but not this process (measured: it trained on,
// orphaned). So such a command watches the processes that started it, and when they are gone it
// stops as a SIGTERM would stop it: training saves a checkpoint first.
import { readFileSync } from 'node:fs';

const SHELLS = new Set(['sh', 'dash', 'bash', 'zsh', 'ksh']);

/** The parent pid of a process, from /proc (null where it cannot be read: gone, or not Linux). */
function parentOf(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // "pid (comm) state ppid …": comm may contain spaces and parentheses, so read after the last ')'.
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return null;
  }
}

function commOf(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return '';
  }
}

/** This process's starters as [pid, its parent] pairs: the parent, and npm behind it where the parent is a shell. */
function starters(): [number, number | null][] {
  const parent = process.ppid;
  const chain: [number, number | null][] = [[process.pid, parent]];
  if (SHELLS.has(commOf(parent))) chain.push([parent, parentOf(parent)]);
  return chain;
}

/**
 * When this process was started by npm (npm sets `npm_command` for what it runs), checks once a
 * second that npm and the shell between it and us are still there; when one is gone, calls
 * `onGone` once (it should stop the command as SIGTERM would). The timer never keeps the process alive.
 * @returns a function that stops watching.
 */
export function watchLauncher(onGone: () => void): () => void {
  if (process.env.npm_command === undefined || process.platform !== 'linux') return () => {};
  const chain = starters();
  const timer = setInterval(() => {
    if (chain.every(([pid, parent]) => (pid === process.pid ? process.ppid : parentOf(pid)) === parent)) return;
    clearInterval(timer);
    onGone();
  }, 1000);
  timer.unref();
  return () => clearInterval(timer);
}
