// The benchmark's CPU split (bench/cpu.js) and its table cell (bench/lib.js cpuCell): CPU time is read off /proc for
// the processes it is given, divided by the run's requests, and printed per process.
import { spawn, type ChildProcess } from 'node:child_process';

interface Split { server: number; postgres?: number; bench: number; machine: number; idlePct: number }
type Run = { rps: number; requests: number };
type Measure = (pids: number[], run: () => Promise<Run>, opts?: { postgres?: boolean }) => Promise<Run & { cpu?: Split }>;
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { measure } = require('../../bench/cpu') as { measure: Measure };
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { cpuCell } = require('../../bench/lib') as { cpuCell: (r: { cpu?: Split; echoCpu: Split[] }) => string };

const split = (server: number, postgres?: number): Split => ({ server, postgres, bench: 0.05, machine: 0.6, idlePct: 25 });

describe('bench CPU split', () => {
  let child: ChildProcess | undefined;
  afterEach(() => child?.kill());

  it('charges a process its CPU time per request of the run', async () => {
    // A child that computes until it has used 400 ms of CPU (however loaded the machine), says so, then waits: the
    // "server" of a run of 100 requests.
    const script = 'const u = () => { const c = process.cpuUsage(); return (c.user + c.system) / 1000; };'
      + ' while (u() < 400); process.stdout.write("done"); setTimeout(() => {}, 60000);';
    const started = spawn(process.execPath, ['-e', script]);
    child = started;
    const result = await measure([started.pid!], async () => {
      await new Promise((r) => started.stdout!.once('data', r));
      return { rps: 100, requests: 100 };
    });
    expect(result.rps).toBe(100);
    const cpu = result.cpu!;
    // 400 ms over 100 requests: about 4 ms each (CPU time counts in 10 ms ticks; startup adds a little).
    expect(cpu.server).toBeGreaterThan(3);
    expect(cpu.server).toBeLessThan(10);
    // This process mostly slept meanwhile.
    expect(cpu.bench).toBeLessThan(cpu.server);
    expect(cpu.machine).toBeGreaterThanOrEqual(cpu.server - 0.5);
    expect(cpu.idlePct).toBeGreaterThanOrEqual(0);
    expect(cpu.idlePct).toBeLessThanOrEqual(100);
  });

  it('prints the median round, PostgreSQL only when it was measured, and the echo runs\' median', () => {
    const cell = cpuCell({ cpu: split(0.3, 0.12), echoCpu: [split(0.2), split(0.15), split(0.16)] });
    expect(cell).toBe('gateway 0.300 · PostgreSQL 0.120 · autocannon 0.050 · machine 0.600 (idle 25 %); echo 0.160');
    expect(cpuCell({ cpu: split(0.3), echoCpu: [split(0.2)] })).toBe('gateway 0.300 · autocannon 0.050 · machine 0.600 (idle 25 %); echo 0.200');
    expect(cpuCell({ echoCpu: [] })).toBe('n/a');
  });
});
