/**
 * A create that quantizes takes a while; deleting its base model meanwhile
 * must not take the base's layers (the system prompt here) from under it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanup, startDaemon, type RunningDaemon } from './helpers/daemon.js';

let d: RunningDaemon;
beforeAll(async () => {
  d = await startDaemon();
});
afterAll(async () => {
  await d?.stop();
  if (d) cleanup(d.home);
});

const post = (path: string, body: unknown, method = 'POST') => fetch(`${d.url}${path}`, { method, body: JSON.stringify(body) });

describe('create racing a delete of its base', () => {
  it('keeps the base layers it uses until its manifest is written', async () => {
    const system = `You are a scribe of the create race (${process.pid}).`;
    expect((await post('/api/create', { model: 'race-base', from: 'kjv', system, stream: false })).status).toBe(200);
    const res = await post('/api/create', { model: 'race-q', from: 'race-base', quantize: 'q8_0' });
    const reader = res.body!.getReader();
    let buf = '';
    let deleted = false;
    let last: { status?: string; error?: string } = {};
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      buf += Buffer.from(value).toString();
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        last = JSON.parse(buf.slice(0, nl));
        buf = buf.slice(nl + 1);
        if (!deleted && last.status?.startsWith('quantizing')) {
          deleted = true;
          expect((await post('/api/delete', { model: 'race-base' }, 'DELETE')).status).toBe(200);
          await post('/api/prune', {});
        }
      }
    }
    expect(deleted).toBe(true);
    expect(last).toEqual({ status: 'success' });
    const show = (await (await post('/api/show', { model: 'race-q' })).json()) as { system?: string; details: { quantization_level: string } };
    expect(show.system).toBe(system);
    expect(show.details.quantization_level).toBe('Q8_0');
    // once written, nothing is pinned any more: deleting the new model frees the system layer
    expect((await post('/api/delete', { model: 'race-q' }, 'DELETE')).status).toBe(200);
    const pruned = (await (await post('/api/prune', {})).json()) as { removed: string[] };
    expect(Array.isArray(pruned.removed)).toBe(true);
  });
});
