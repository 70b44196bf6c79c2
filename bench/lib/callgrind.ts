import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import type { Wrapper } from './server-process.ts';

/**
 * valgrind's callgrind around a server process: it counts the instructions each thread runs, which
 * other load on the machine does not change. Counting starts switched off, and `count` switches it on
 * for one stretch of work and writes that stretch's counts to a file of its own per thread.
 */
export function callgrindWrapper(outputPrefix: string): Wrapper {
  return {
    command: 'valgrind',
    args: [
      '--tool=callgrind',
      // valgrind's banner would print the server's command line, settings included.
      '--quiet',
      '--instr-atstart=no',
      '--separate-threads=yes',
      // V8 writes and rewrites machine code: valgrind has to watch all of it.
      '--smc-check=all-non-file',
      `--callgrind-out-file=${outputPrefix}.%p`,
    ],
  };
}

/** Whether valgrind and callgrind_control can run here. */
export function callgrindAvailable(): boolean {
  try {
    execFileSync('valgrind', ['--version'], { stdio: 'ignore' });
    execFileSync('callgrind_control', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

export interface ThreadCounts {
  /** Instructions the thread ran in the stretch. */
  instructions: number;
  /** Calls of each function named in `countCalls`, by that name. */
  calls: Record<string, number>;
}

/**
 * Runs `work` with counting switched on in process `pid`, and returns the main thread's counts for
 * exactly that stretch.
 */
export async function count(
  pid: number,
  outputPrefix: string,
  countCalls: readonly string[],
  work: () => Promise<unknown>,
): Promise<ThreadCounts> {
  const control = (...args: string[]) =>
    execFileSync('callgrind_control', [...args, String(pid)], { stdio: 'ignore' });
  control('--instr=on');
  control('--zero');
  await work();
  control('--dump=counted');
  control('--instr=off');
  // The first dump of the process, main thread (thread 1).
  return mainThreadCounts(readFileSync(`${outputPrefix}.${pid}.1-01`, 'utf8'), countCalls);
}

/**
 * Reads a callgrind dump: the instructions it totals, and how often the named functions were called.
 * Names are compressed in the format (`(12) name` the first time, `(12)` after), and a `calls=` line
 * under `cfn=` gives the number of calls of that function from the current one.
 */
export function mainThreadCounts(dump: string, countCalls: readonly string[]): ThreadCounts {
  const names = new Map<string, string>();
  const calls: Record<string, number> = Object.fromEntries(countCalls.map((name) => [name, 0]));
  let instructions = Number.NaN;
  let callee: string | undefined;
  for (const line of dump.split('\n')) {
    if (line.startsWith('summary:') || line.startsWith('totals:')) {
      instructions = Number(line.split(/\s+/)[1]);
    } else if (line.startsWith('cfn=') || line.startsWith('fn=')) {
      const match = /^c?fn=\((\d+)\)(?: (.*))?$/.exec(line);
      if (!match) continue;
      const [, id, name] = match as unknown as [string, string, string | undefined];
      if (name !== undefined) names.set(id, name);
      callee = line.startsWith('cfn=') ? names.get(id) : undefined;
    } else if (line.startsWith('calls=') && callee !== undefined) {
      const counted = countCalls.find((name) => callee?.includes(name));
      if (counted) calls[counted] = (calls[counted] ?? 0) + Number(line.slice(6).split(' ')[0]);
    }
  }
  if (!Number.isFinite(instructions)) throw new Error('callgrind dump without a summary line');
  return { instructions, calls };
}
