import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Tokenizer } from '../../engine/tokenizer/index.js';
import { packageRoot } from '../../common/paths.js';
import { fitPrompt, l2normalize, promptTokens } from './tokens.js';

const tok = Tokenizer.fromGGUF(join(packageRoot(), 'models', 'kjv', 'kjv-f16.gguf'));

describe('prompt tokens', () => {
  it('adds BOS once, whether or not the template printed it', () => {
    const plain = promptTokens(tok, 'In the beginning');
    expect(plain[0]).toBe(tok.bos);
    expect(plain[1]).not.toBe(tok.bos);
    const templated = promptTokens(tok, '<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>');
    expect(templated.filter((t) => t === tok.bos)).toHaveLength(1);
    expect(templated[0]).toBe(tok.bos);
    // the header is one control token, not its characters
    expect(tok.decode(templated.slice(1, 2), { special: true })).toBe('<|start_header_id|>');
  });

  it('continues an earlier context without a second BOS', () => {
    const first = promptTokens(tok, 'And God said');
    const next = promptTokens(tok, ' Let there be light', first);
    expect(next.slice(0, first.length)).toEqual(first);
    expect(next.slice(first.length)).not.toContain(tok.bos);
  });
});

describe('fitting a prompt into the context', () => {
  it('leaves a prompt that fits alone', () => {
    expect(fitPrompt([1, 2, 3], 8, 1)).toEqual({ tokens: [1, 2, 3], truncated: 0 });
  });
  it('keeps the first tokens and the newest, half a window in all', () => {
    const long = Array.from({ length: 20 }, (_, i) => i);
    const { tokens, truncated } = fitPrompt(long, 16, 1);
    expect(tokens).toEqual([0, 13, 14, 15, 16, 17, 18, 19]);
    expect(truncated).toBe(12);
  });
});

describe('l2normalize', () => {
  it('scales to unit length and leaves zero alone', () => {
    const v = l2normalize(Float32Array.from([3, 4]));
    expect(Array.from(v)).toEqual([expect.closeTo(0.6, 6), expect.closeTo(0.8, 6)]);
    expect(Array.from(l2normalize(new Float32Array(2)))).toEqual([0, 0]);
  });
});
