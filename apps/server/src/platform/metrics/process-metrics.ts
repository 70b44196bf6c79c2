import { type IntervalHistogram, monitorEventLoopDelay } from 'node:perf_hooks';
import { writeFamily } from './exposition.ts';

const NS_PER_S = 1e9;

/** CPU, memory, uptime and event-loop delay of this Node.js process. */
export class ProcessMetrics {
  private readonly loopDelay: IntervalHistogram = monitorEventLoopDelay({ resolution: 20 });
  private readonly startSeconds = Math.round(Date.now() / 1000 - process.uptime());

  start(): void {
    this.loopDelay.enable();
  }

  stop(): void {
    this.loopDelay.disable();
  }

  /** Writes the families; the event-loop delay figures cover the time since the previous scrape. */
  write(out: string[]): void {
    const cpu = process.cpuUsage();
    const memory = process.memoryUsage();
    const gauge = (name: string, help: string, value: number) =>
      writeFamily(out, { name, help, type: 'gauge' }, [{ value }]);
    const counter = (name: string, help: string, value: number) =>
      writeFamily(out, { name, help, type: 'counter' }, [{ value }]);
    counter('process_cpu_user_seconds_total', 'User CPU time spent, in seconds', cpu.user / 1e6);
    counter('process_cpu_system_seconds_total', 'System CPU time spent, in seconds', cpu.system / 1e6);
    counter(
      'process_cpu_seconds_total',
      'User and system CPU time spent, in seconds',
      (cpu.user + cpu.system) / 1e6,
    );
    gauge(
      'process_start_time_seconds',
      'Start time of the process since the epoch, in seconds',
      this.startSeconds,
    );
    gauge('process_resident_memory_bytes', 'Resident memory size, in bytes', memory.rss);
    gauge('nodejs_heap_size_total_bytes', 'V8 heap size, in bytes', memory.heapTotal);
    gauge('nodejs_heap_size_used_bytes', 'V8 heap used, in bytes', memory.heapUsed);
    gauge(
      'nodejs_external_memory_bytes',
      'Memory of C++ objects bound to JavaScript, in bytes',
      memory.external,
    );
    const delay = this.loopDelay;
    const seconds = (ns: number) => (Number.isFinite(ns) && delay.count > 0 ? ns / NS_PER_S : 0);
    gauge(
      'nodejs_eventloop_lag_mean_seconds',
      'Mean event-loop delay since the last scrape',
      seconds(delay.mean),
    );
    gauge(
      'nodejs_eventloop_lag_p99_seconds',
      '99th percentile of the event-loop delay since the last scrape',
      seconds(delay.percentile(99)),
    );
    gauge(
      'nodejs_eventloop_lag_max_seconds',
      'Largest event-loop delay since the last scrape',
      seconds(delay.max),
    );
    delay.reset();
  }
}
