/** The worker side of runner.ts's worker mode: runs inputs [from, to) and keeps the shared counters current. */
import { parentPort, workerData } from 'node:worker_threads';
import { installAllocGuard } from './alloc-guard.js';
import { makeInput, runOne, SLOT, type WorkerData, type WorkerMessage } from './runner.js';
import { findTarget } from './targets.js';

const { target, seed, from, to, shared } = workerData as WorkerData;
const s = new Int32Array(shared);
const post = (m: WorkerMessage) => parentPort!.postMessage(m);

installAllocGuard();
const t = await findTarget(target).open();
try {
  for (let i = from; i < to; i++) {
    const { bytes, seed: seedIndex } = makeInput(t, target, seed, i);
    Atomics.store(s, SLOT.current, i);
    Atomics.store(s, SLOT.busy, 1);
    const o = await runOne(t, bytes, seedIndex);
    Atomics.store(s, SLOT.busy, 0);
    Atomics.add(s, SLOT.runs, 1);
    const us = Math.round(o.ms * 1000);
    if (us > Atomics.load(s, SLOT.maxUs)) {
      Atomics.store(s, SLOT.maxUs, us);
      Atomics.store(s, SLOT.maxAt, i);
    }
    if (o.kind === 'ok' || o.kind === 'rejected') Atomics.add(s, SLOT[o.kind], 1);
    else {
      const bad = o as { kind: 'crash' | 'hang' | 'alloc'; detail: string };
      Atomics.add(s, bad.kind === 'crash' ? SLOT.crashes : bad.kind === 'hang' ? SLOT.hangs : SLOT.allocs, 1);
      post({ type: 'finding', index: i, kind: bad.kind, detail: bad.detail, ms: o.ms, bytes });
    }
  }
} finally {
  t.close();
}
post({ type: 'done' });
