import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { native } from '../../kernels/native.js';
import { KJV_F32 } from '../../test/helpers/fixtures.js';
import { isKilnError } from '../../common/errors.js';
import { Model } from './model.js';

/**
 * The native boundary takes positions as JS numbers (int64 after the safe
 * integer check) and the kernels count them in int32: a position past
 * INT32_MAX must be refused, not wrapped to a small one that passes the
 * kernels' own checks (2^32 wraps to 0 and would overwrite the cache).
 */
let m: Model;
beforeAll(async () => {
  m = await Model.load(KJV_F32, { nCtx: 64 });
});
afterAll(() => m?.close());

describe('native positions', () => {
  it('refuses pos0 beyond int32 with a RangeError, and leaves the cache as it was', () => {
    const bos = m.tokenizer.bos ?? 1;
    m.native.truncate(0);
    const first = m.native.eval([bos, 42, 43], 0).slice();
    for (const pos0 of [2 ** 32, 2 ** 32 + 3, 2 ** 31, -1, -(2 ** 32)]) {
      let err: unknown;
      try {
        m.native.eval([44], pos0);
      } catch (e) {
        err = e;
      }
      expect(isKilnError(err, 'E_NATIVE')).toBe(true);
      expect((err as Error).message).toBe(`pos0 ${pos0} is out of range (0 to 2147483647)`);
      expect((err as Error).cause).toBeInstanceOf(RangeError);
    }
    // straight from the addon: a RangeError that carries the stable code
    expect(() => native().llamaEval((m.native as unknown as { handle: never }).handle, Int32Array.of(44), 2 ** 32, null, 0)).toThrow(RangeError);
    // nothing was written: evaluating the same prefix again gives the same logits
    m.native.truncate(0);
    expect(m.native.eval([bos, 42, 43], 0)).toEqual(first);
  });

  it('takes a truncate position past int32 as "keep everything", not as a wrapped small one', () => {
    const bos = m.tokenizer.bos ?? 1;
    m.native.truncate(0);
    m.native.eval([bos, 42, 43], 0);
    m.native.truncate(2 ** 32 + 1); // wrapped, this would cut the cache to 1 position
    // position 3 still continues the cache
    expect(() => m.native.eval([44], 3)).not.toThrow();
  });
});
