import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';

export interface Machine {
  cpu: string;
  cores: number;
  memoryGiB: number;
  node: string;
  platform: string;
}

function cpuModel(): string {
  try {
    const match = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'));
    if (match?.[1]) return match[1].trim();
  } catch {
    // not Linux: fall back to what Node reports
  }
  return cpus()[0]?.model.trim() ?? 'unknown CPU';
}

/** The machine a benchmark ran on, as recorded next to its figures. */
export function describeMachine(): Machine {
  return {
    cpu: cpuModel(),
    cores: cpus().length,
    memoryGiB: Math.round((totalmem() / 1024 ** 3) * 10) / 10,
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
  };
}

export function machineLine(machine: Machine): string {
  return `${machine.cpu}, ${machine.cores} cores, ${machine.memoryGiB} GiB RAM, ${machine.platform}, Node.js ${machine.node}`;
}

function git(args: string[]): string | undefined {
  try {
    return execFileSync('git', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return undefined;
  }
}

/** The commit the measured server code comes from, and whether its source had uncommitted edits. */
export function codeVersion(): string {
  const commit = git(['rev-parse', '--short', 'HEAD']);
  if (!commit) return 'unknown commit';
  // Untracked files (scratch scripts, new tests) do not change what the server runs; edits do.
  const changes = git([
    'status',
    '--porcelain',
    '--untracked-files=no',
    '--',
    'apps/server/src',
    'apps/server/migrations',
  ]);
  return changes ? `commit ${commit} with uncommitted changes in apps/server/src` : `commit ${commit}`;
}
