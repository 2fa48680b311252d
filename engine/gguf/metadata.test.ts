import { describe, expect, it } from 'vitest';
import { formatParameterCount, kvNumber, modelInfo, summarizeModel } from './metadata.js';
import { parseGGUF, readGGUFFileSync } from './reader.js';
import { sampleBytes, sampleSpec } from './sample.js';

import { KJV_DIR } from '../../test/helpers/fixtures.js';

const KJV = KJV_DIR.replace(/\/$/, '');

describe('summarizeModel', () => {
  it('summarizes kjv-f16 from its KVs and tensors', () => {
    expect(summarizeModel(readGGUFFileSync(`${KJV}/kjv-f16.gguf`))).toEqual({
      architecture: 'llama',
      parameterCount: 5451008,
      contextLength: 256,
      embeddingLength: 256,
      blockCount: 6,
      headCount: 8,
      fileType: 'F16',
      quantizationVersion: undefined,
    });
    expect(summarizeModel(readGGUFFileSync(`${KJV}/kjv-f32.gguf`)).fileType).toBe('F32');
  });

  it('names the file type from general.file_type, else from the predominant tensor type', () => {
    const spec = sampleSpec();
    const kv = spec.kv as Map<string, never>;
    kv.set('general.file_type', { type: 4, value: 15 } as never);
    expect(summarizeModel(parseGGUF(sampleBytes(spec))).fileType).toBe('Q4_K_M');
    kv.delete('general.file_type');
    // Sample tensors: 896 F16, 64 F32, 768 Q4_K, 128 Q8_0 elements.
    expect(summarizeModel(parseGGUF(sampleBytes(spec))).fileType).toBe('F16');
  });

  it('reads per-layer array values as their maximum', () => {
    const spec = sampleSpec();
    (spec.kv as Map<string, unknown>).set('llama.attention.head_count', { type: 9, itemType: 5, value: new Int32Array([4, 8, 2]) });
    const g = parseGGUF(sampleBytes(spec));
    expect(kvNumber(g, 'llama.attention.head_count')).toBe(8);
    expect(summarizeModel(g).headCount).toBe(8);
  });
});

describe('formatParameterCount', () => {
  const table: Array<[number | bigint, string]> = [
    [5451008, '5.5M'], [8030261248, '8.0B'], [494032768, '494.0M'], [7_000_000_000, '7B'],
    [999, '999'], [0, '0'], [1500, '1.5K'], [1000, '1K'], [5_250_000, '5.2M'], [5_350_000, '5.4M'],
    [999_960_000, '1000.0M'], [1_234_567_890_123n, '1.2T'], [116829156672, '116.8B'],
  ];
  for (const [n, s] of table) it(`formats ${n} as ${s}`, () => expect(formatParameterCount(n)).toBe(s));
});

describe('modelInfo', () => {
  const g = readGGUFFileSync(`${KJV}/kjv-f16.gguf`);

  it('lists the KVs like Ollama /api/show: sorted keys, arrays null, parameter count added', () => {
    const info = modelInfo(g);
    expect(Object.keys(info)).toEqual(Object.keys(info).sort());
    expect(info['general.architecture']).toBe('llama');
    expect(info['general.parameter_count']).toBe(5451008);
    expect(info['llama.attention.layer_norm_rms_epsilon']).toBe(0.00001);
    expect(info['llama.context_length']).toBe(256);
    expect(info['tokenizer.ggml.add_bos_token']).toBe(true);
    for (const k of ['tokenizer.ggml.tokens', 'tokenizer.ggml.merges', 'tokenizer.ggml.token_type']) expect(info[k]).toBeNull();
    expect(info).not.toHaveProperty('general.name');
    expect(info).not.toHaveProperty('tokenizer.chat_template');
    expect(JSON.parse(JSON.stringify(info))).toEqual(info);
  });

  it('includes the arrays when verbose', () => {
    const info = modelInfo(g, true);
    expect((info['tokenizer.ggml.tokens'] as string[]).length).toBe(2000);
    expect((info['tokenizer.ggml.token_type'] as number[])[1995]).toBe(3);
    expect(Array.isArray(info['tokenizer.ggml.token_type'])).toBe(true);
  });

  it('converts 64-bit values to JSON numbers and keeps empty arrays', () => {
    const info = modelInfo(parseGGUF(sampleBytes()));
    expect(info['test.u64']).toBe(2 ** 64);
    expect(info['test.empty_array']).toEqual([]);
    expect(info['test.bools']).toBeNull();
  });
});
