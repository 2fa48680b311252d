import { readFileSync } from 'node:fs';
import { expect, it } from 'vitest';
import { KJV_F32, KJV_HELDOUT } from '../../test/helpers/fixtures.js';
import { Tokenizer } from './tokenizer.js';

it('tokenizes 1 MB of English text well under a second', () => {
  const tok = Tokenizer.fromGGUF(KJV_F32);
  const verse = readFileSync(KJV_HELDOUT, 'utf8');
  const text = verse.repeat(Math.ceil((1 << 20) / verse.length)).slice(0, 1 << 20);
  tok.encode(verse); // warm up the regex and the JIT, not the cache
  const t0 = performance.now();
  const ids = tok.encode(text, { addSpecial: false });
  const ms = performance.now() - t0;
  console.log(`tokenizer: 1 MiB of English → ${ids.length} tokens in ${ms.toFixed(0)} ms (kjv byte-level BPE)`);
  // Generous for a loaded two-core machine; a quadratic merge or a cache miss per word takes far longer.
  expect(ms).toBeLessThan(1500);
  expect(tok.decode(ids)).toBe(text);
});
