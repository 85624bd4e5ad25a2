// WAL checkpoints off the request path. With SQLite's automatic checkpoint, the commit that pushes the WAL past
// 1,000 pages copies the whole WAL into the database file and fsyncs it before its request is answered: a write
// stall of tens to hundreds of milliseconds every few megabytes. Here the writing connection never checkpoints;
// a worker thread with its own connection runs PASSIVE checkpoints (they never block writers or readers) when the
// WAL file has grown past a threshold. SQLite restarts the WAL from its beginning once a checkpoint has caught up.
import { statSync } from 'node:fs';
import { Worker } from 'node:worker_threads';

/** The worker's code, inline so it runs the same from compiled output and under ts-jest. */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
const db = new Database(workerData.file);
db.pragma('busy_timeout = 5000');
db.pragma('synchronous = ' + workerData.synchronous);
parentPort.on('message', (message) => {
  if (message === 'close') {
    db.close();
    parentPort.close();
    return;
  }
  let error, result;
  try { result = db.pragma('wal_checkpoint(PASSIVE)')[0]; } catch (e) { error = String(e && e.message || e); }
  parentPort.postMessage({ error, log: result && result.log, checkpointed: result && result.checkpointed });
});
`;

export interface CheckpointerOptions {
  file: string;
  synchronous: string;
  /** Checkpoint once the WAL file is larger than this (bytes). */
  thresholdBytes?: number;
  /** How often the WAL size is looked at (ms). */
  intervalMs?: number;
  /**
   * WAL frames past which the writer itself runs a checkpoint so the WAL can restart: 4096 (64 MiB of 16 KiB pages),
   * so that only sustained write load, not a few bulk requests, ever puts a checkpoint on the request path.
   */
  inlineAfterFrames?: number;
  /** Called when the worker cannot run; the caller then falls back to SQLite's automatic checkpoints. */
  onFailure: (err: unknown) => void;
}

export class BackgroundCheckpointer {
  private worker?: Worker;
  private busy = false;
  private inlineDue = false;
  private failed = false;
  private readonly timer: NodeJS.Timeout;
  private readonly walFile: string;
  private readonly threshold: number;

  constructor(private readonly opts: CheckpointerOptions) {
    this.walFile = `${opts.file}-wal`;
    this.threshold = opts.thresholdBytes ?? 4 * 1024 * 1024;
    this.timer = setInterval(() => this.tick(), opts.intervalMs ?? 200);
    this.timer.unref();
  }

  private walSize(): number {
    try {
      return statSync(this.walFile).size;
    } catch {
      return 0;
    }
  }

  private tick(): void {
    if (this.busy || this.failed || this.walSize() < this.threshold) return;
    this.busy = true;
    try {
      this.ensureWorker().postMessage('checkpoint');
    } catch (e) {
      this.fail(e);
    }
  }

  /** Started on first need: most test databases and quiet gateways never grow a large WAL. */
  private ensureWorker(): Worker {
    if (this.worker) return this.worker;
    const worker = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: { driver: require.resolve('better-sqlite3'), file: this.opts.file, synchronous: this.opts.synchronous },
    });
    worker.unref();
    worker.on('message', (m: { error?: string; log?: number; checkpointed?: number }) => {
      this.busy = false;
      // The WAL restarts from its beginning only when a write begins right after a checkpoint that caught up, with
      // no checkpoint running; under steady writes that moment may never come, so the writer makes it.
      if (typeof m?.log === 'number' && m.log >= (this.opts.inlineAfterFrames ?? 4096)) this.inlineDue = true;
      // SQLITE_BUSY and the like: the next tick tries again.
      if (m?.error && !/busy|locked/i.test(m.error)) this.fail(new Error(m.error));
    });
    worker.on('error', (e) => this.fail(e));
    this.worker = worker;
    return worker;
  }

  /** Whether the writer should checkpoint now (asked once per background run that fell behind). */
  takeInlineDue(): boolean {
    const due = this.inlineDue;
    this.inlineDue = false;
    return due;
  }

  private fail(err: unknown): void {
    if (this.failed) return;
    this.failed = true;
    clearInterval(this.timer);
    void this.worker?.terminate();
    this.worker = undefined;
    this.opts.onFailure(err);
  }

  /** Stops looking and lets a running checkpoint finish before the worker's connection closes. */
  async close(): Promise<void> {
    clearInterval(this.timer);
    const worker = this.worker;
    this.worker = undefined;
    if (!worker) return;
    const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
    worker.postMessage('close');
    const deadline = setTimeout(() => void worker.terminate(), 5000);
    await exited;
    clearTimeout(deadline);
  }
}
