import { readFileSync } from 'node:fs';

function read(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

/** Busy and total CPU ticks of the whole machine since boot (Linux), from the first line of /proc/stat. */
function machineTicks(): { busy: number; total: number } | undefined {
  const line = read('/proc/stat')?.split('\n', 1)[0];
  if (!line?.startsWith('cpu ')) return undefined;
  const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] = line
    .trim()
    .split(/\s+/)
    .slice(1)
    .map(Number);
  const busy = user + nice + system + irq + softirq + steal;
  return { busy, total: busy + idle + iowait };
}

/** User + system clock ticks (USER_HZ, 100 per second on Linux) a process has used; 0 once it is gone. */
export function processTicks(pid: number): number {
  return liveProcessTicks(pid) ?? 0;
}

/** `processTicks`, but undefined once the process is gone. */
function liveProcessTicks(pid: number): number | undefined {
  const stat = read(`/proc/${pid}/stat`);
  if (!stat) return undefined;
  // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[11]) + Number(fields[12]);
}

/**
 * How much of the machine's CPU went to processes other than the benchmark's own during a span:
 * the benchmark process, its server and (on PostgreSQL) the server's backends count as its own.
 */
export class ForeignCpuMeter {
  private start: { machine: { busy: number; total: number }; ticks: Map<number, number> } | undefined;

  constructor(private readonly ownPids: number[]) {}

  begin(): void {
    const machine = machineTicks();
    const ticks = new Map<number, number>();
    for (const pid of this.ownPids) {
      const used = liveProcessTicks(pid);
      if (used !== undefined) ticks.set(pid, used);
    }
    this.start = machine && { machine, ticks };
  }

  /** The other processes' share of all CPU time since `begin`, 0–1; undefined off Linux. */
  end(): number | undefined {
    const machine = machineTicks();
    if (!this.start || !machine) return undefined;
    const total = machine.total - this.start.machine.total;
    const busy = machine.busy - this.start.machine.busy;
    // A process that ended meanwhile (a pool closing an idle connection) counts what it used until
    // `begin` only: its ticks since then are unknown, and its whole lifetime is not foreign.
    let own = 0;
    for (const [pid, before] of this.start.ticks) own += (liveProcessTicks(pid) ?? before) - before;
    return total > 0 ? Math.max(0, busy - own) / total : undefined;
  }
}
