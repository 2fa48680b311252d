/**
 * The o200k pre-tokenizer (`tokenizer.ggml.pre` = "gpt-4o", as gpt-oss GGUFs
 * declare it) splits text as llama.cpp does: a random-weight gpt-oss borrows
 * kjv's byte-level BPE vocabulary with its pre-tokenizer named gpt-4o, and
 * kiln's token ids for texts that exercise case changes, contractions, digit
 * runs, punctuation with slashes and newlines, other scripts and whitespace
 * equal llama.cpp's on the same file. (Under kjv's own llama-bpe pattern most
 * of these texts split differently.)
 */
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { gptOssSpec } from '../bench/arch-specs.js';
import { borrowedVocab, writeRandomModel } from '../bench/random-model.js';
import { gv, type GGUFValue } from '../engine/gguf/types.js';
import { Model } from '../engine/model/model.js';
import { cleanup, tempHome } from './helpers/daemon.js';
import { load, oracle, type Loaded } from './helpers/llama-cpp.js';

const TEXTS = [
  'HelloWorld and camelCaseWords, XMLHttpRequest',
  "I'm sure they'LL say it's DON'T, we've you'd",
  '12345 678 9 1234567890',
  'path/to/file.txt\n/usr/bin\n\n  indented\tcode();\n',
  'a...b!!!\n/c ?? (d) [e] {f}',
  'Ünïcödé ÉCOLE naïve Straße ΑΒΓ αβγ Привет МИР',
  '日本語のテキスト 中文 한국어',
  '   leading spaces and trailing   ',
  'tabs\t\tand\r\nCRLF\r\n',
  'emoji 🙂👍 mixed123abc ABCdef abcDEF',
  // a merge added across the boundary o200k cuts at (a lower-case letter, then an upper-case one):
  // one token under a pattern that keeps "aB" whole, two under o200k's
  'aB',
  'qZ and aB',
];

/** gpt-oss's harmony markers. */
const HARMONY = ['<|start|>', '<|channel|>', '<|message|>', '<|end|>', '<|return|>', '<|call|>', '<|constrain|>'];

let dir: string;
let model: Model;
let theirs: Loaded;

beforeAll(async () => {
  dir = tempHome('kiln-gpt4o-');
  const path = join(dir, 'gpt4o.gguf');
  // kjv's vocabulary plus the tokens "aB" and "qZ" and their merges, ranked last
  const { kv } = await borrowedVocab();
  const arr = (k: string) => kv.get(k)!.value as unknown as ArrayLike<unknown>;
  const extra = ['aB', 'qZ', ...HARMONY];
  const tokens = [...(arr('tokenizer.ggml.tokens') as string[])].concat(extra);
  const merges = [...(arr('tokenizer.ggml.merges') as string[])].concat(['a B', 'q Z']);
  // harmony's markers as convert_hf_to_gguf writes them: control tokens (type 3)
  const types = Int32Array.from([...(arr('tokenizer.ggml.token_type') as number[]), 1, 1, ...HARMONY.map(() => 3)]);
  const vocab: Record<string, GGUFValue> = {
    'tokenizer.ggml.pre': gv.str('gpt-4o'),
    'tokenizer.ggml.tokens': gv.array(8, tokens),
    'tokenizer.ggml.merges': gv.array(8, merges),
    'tokenizer.ggml.token_type': gv.array(5, types),
  };
  const spec = gptOssSpec({ nEmbd: 64, nHead: 2, nHeadKv: 1, headDim: 32, nFf: 32, nFfExp: 32, nExpert: 2, nExpertUsed: 1, nLayer: 1 }, tokens.length, {
    window: 8,
    yarnFactor: 1,
    yarnOrigCtx: 4096,
  });
  Object.assign(spec.kv, vocab);
  await writeRandomModel(path, spec);
  model = await Model.load(path, { nCtx: 64 });
  theirs = await load(path, 64);
}, 60_000);

afterAll(async () => {
  model?.close();
  await theirs?.dispose();
  await (await oracle()).dispose();
  cleanup(dir);
});

it.each(TEXTS)('gpt-4o pre-tokenizer: %j tokenizes as llama.cpp tokenizes it', (text) => {
  const ours = model.tokenizer.encode(text, { addSpecial: false });
  expect(ours).toEqual([...theirs.model.tokenize(text, false)]);
});

it.each(HARMONY)('harmony marker %s: ends generation, and detokenizes, as in llama.cpp', (text) => {
  const id = model.tokenizer.encode(text, { addSpecial: false, parseSpecial: true });
  expect(id).toEqual([...theirs.model.tokenize(text, true)]);
  expect(id).toHaveLength(1);
  const t = id[0];
  expect(model.tokenizer.isEog(t), 'end of generation').toBe(theirs.model.isEogToken(t as never));
  expect(model.tokenizer.decode([t], { special: true })).toBe(theirs.model.detokenize([t as never], true));
  expect(model.tokenizer.decode([t])).toBe(theirs.model.detokenize([t as never], false));
});
