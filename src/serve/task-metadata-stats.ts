/**
 * Docker-stats-shaped numbers for the task metadata endpoint's /stats routes. Locally there is
 * no container runtime to ask, so they describe credproxy's own process (CPU time, memory) and
 * the machine (system CPU time, online CPUs). Readers get the fields and units they expect:
 * nanoseconds of CPU, bytes of memory, `read`/`preread` timestamps.
 */
import { readFileSync } from "node:fs";
import { availableParallelism, totalmem } from "node:os";
import type { TaskMetadataConfig } from "../config/types.ts";

interface CpuSample {
  readonly at: string;
  readonly userNs: number;
  readonly kernelNs: number;
  readonly systemNs: number;
}

let previous: CpuSample | undefined;

export function containerStats(meta: TaskMetadataConfig): Record<string, unknown> {
  const now = sample();
  const before = previous ?? now;
  previous = now;
  const memory = process.memoryUsage();
  const limit = meta.container.limits.memory > 0 ? meta.container.limits.memory * 1024 * 1024 : totalmem();
  return {
    read: now.at,
    preread: before.at,
    name: `/ecs-${meta.family}-${meta.revision}-${meta.container.name}-${meta.container.id.slice(0, 20)}`,
    id: meta.container.id,
    num_procs: 0,
    pids_stats: { current: 1 },
    cpu_stats: cpuStats(now),
    precpu_stats: cpuStats(before),
    memory_stats: { usage: memory.rss, max_usage: memory.rss, stats: { rss: memory.rss, heap_used: memory.heapUsed }, limit },
    blkio_stats: { io_service_bytes_recursive: [], io_serviced_recursive: [] },
    storage_stats: {},
    networks: {},
  };
}

function cpuStats(s: CpuSample): Record<string, unknown> {
  return {
    cpu_usage: { total_usage: s.userNs + s.kernelNs, usage_in_kernelmode: s.kernelNs, usage_in_usermode: s.userNs },
    system_cpu_usage: s.systemNs,
    online_cpus: availableParallelism(),
    throttling_data: { periods: 0, throttled_periods: 0, throttled_time: 0 },
  };
}

function sample(): CpuSample {
  const usage = process.cpuUsage();
  return { at: new Date().toISOString(), userNs: usage.user * 1000, kernelNs: usage.system * 1000, systemNs: systemCpuNs() };
}

/** Total CPU time of the machine from /proc/stat (Linux), in ns; 0 where it cannot be read. */
function systemCpuNs(): number {
  try {
    const line = readFileSync("/proc/stat", "utf8").split("\n", 1)[0] ?? "";
    const ticks = line.split(/\s+/).slice(1).reduce((sum, n) => sum + (Number(n) || 0), 0);
    return ticks * 10_000_000; // USER_HZ is 100 on every Linux credproxy runs on
  } catch {
    return 0;
  }
}
