import { cpus, loadavg, release, totalmem, type } from "node:os";

export interface MachineInfo {
  cpu: string;
  cores: number;
  memoryGiB: number;
  node: string;
  os: string;
  /** 1-minute load average when the benchmark started: above the core count, other work shared the machine. */
  loadAtStart: number;
}

export function machineInfo(): MachineInfo {
  const cores = cpus();
  return {
    cpu: cores[0]?.model.trim() ?? "unknown",
    cores: cores.length,
    memoryGiB: totalmem() / 1024 ** 3,
    node: process.version,
    os: `${type()} ${release()}`,
    loadAtStart: loadavg()[0] ?? 0,
  };
}

export function loadNow(): number {
  return loadavg()[0] ?? 0;
}
