import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { cleanup, tempHome } from '../test/helpers/daemon.js';
import { Store } from './index.js';

let home: string;
let store: Store;

beforeEach(() => {
  home = tempHome();
  store = new Store(join(home, 'kiln.db'), join(home, 'models'));
});

afterEach(() => {
  store.close();
  cleanup(home);
});

describe('stored responses', () => {
  it('keeps a response until it expires, across a reopen, and deletes it once', () => {
    store.responses.put({ id: 'resp_a', response: '{"id":"resp_a"}', input: '[]' }, 1000, 5000);
    expect(store.responses.get('resp_a', 4999)).toEqual({ id: 'resp_a', response: '{"id":"resp_a"}', input: '[]' });
    expect(store.responses.get('resp_a', 5000)).toBeUndefined();
    store.close();
    store = new Store(join(home, 'kiln.db'), join(home, 'models'));
    expect(store.responses.get('resp_a', 2000)?.response).toBe('{"id":"resp_a"}');
    expect(store.responses.delete('resp_a', 2000)).toBe(true);
    expect(store.responses.delete('resp_a', 2000)).toBe(false);
    expect(store.responses.get('resp_a', 2000)).toBeUndefined();
  });

  it('drops expired rows on the next write, and an expired one cannot be deleted', () => {
    store.responses.put({ id: 'old', response: '{}', input: '[]' }, 0, 10);
    expect(store.responses.delete('old', 10)).toBe(false);
    store.responses.put({ id: 'new', response: '{}', input: '[]' }, 20, 100);
    const rows = store.db.prepare('SELECT id FROM responses').all();
    expect(rows).toEqual([{ id: 'new' }]);
  });
});
