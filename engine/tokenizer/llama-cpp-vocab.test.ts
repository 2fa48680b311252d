/**
 * kiln against llama.cpp's own tokenizer fixtures: the `models/ggml-vocab-*.gguf`
 * vocabularies with their `.inp`/`.out` cases, from the llama.cpp source that
 * node-llama-cpp ships as a git bundle; plus llama.cpp's answers, recorded by
 * testdata/record-llama-cpp.mjs, for what those fixtures leave out (special
 * tokens, detokenization, end-of-generation tokens).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { llamaSource } from '../../test/helpers/llama-src.js';
import { Tokenizer, TokenAttr } from './index.js';


/** Vocabularies kiln claims: every fixture case must match. */
const CLAIMED = [
  'llama-spm', 'phi-3', 'llama-bpe', 'qwen2', 'qwen35', 'gpt-2', 'mpt', 'falcon', 'starcoder', 'refact',
  'command-r', 'deepseek-llm', 'deepseek-coder', 'gemma-4', 'bert-bge',
];
/** Fixtures kiln does not claim, and why. */
const NOT_CLAIMED: Record<string, string> = {};
/**
 * Vocabularies whose pieces do not spell their input back: WordPiece
 * lower-cases, strips accents and puts a space before every word and
 * punctuation mark. Their decoding is checked against llama.cpp's recorded
 * answers instead.
 */
const LOSSY = new Set(['bert-bge']);

interface FixtureCase { text: string; ids: number[] }

/**
 * The format test-tokenizer-0.cpp reads: inputs separated by a
 * "\n__ggml_vocab_test__\n" line (the file ends with one, or not), outputs one
 * line of space-separated ids per input.
 */
function readFixture(models: string, name: string): FixtureCase[] {
  const base = join(models, `ggml-vocab-${name}.gguf`);
  const inputs = readFileSync(`${base}.inp`, 'utf8').split('\n__ggml_vocab_test__\n');
  if (inputs[inputs.length - 1] === '') inputs.pop();
  const lines = readFileSync(`${base}.out`, 'utf8').split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  expect(lines.length, `${name}: inputs and outputs`).toBe(inputs.length);
  return inputs.map((text, i) => {
    const o = lines[i].trim();
    return { text, ids: o === '' ? [] : o.split(' ').map(Number) };
  });
}

/**
 * Every test asks for the checkout itself (made once, the failure kept too),
 * so a missing bundle or git fails each test by name instead of leaving them
 * skipped behind a failed hook.
 */
let checkoutResult: string | Error | undefined;
function checkout(): string {
  if (checkoutResult === undefined) {
    try {
      checkoutResult = llamaSource();
    } catch (e) {
      checkoutResult = e as Error;
    }
  }
  if (checkoutResult instanceof Error) throw checkoutResult;
  return checkoutResult;
}
const models = () => join(checkout(), 'models');

const tokenizers = new Map<string, Tokenizer>();
function tokenizer(name: string): Tokenizer {
  let t = tokenizers.get(name);
  if (!t) {
    t = Tokenizer.fromGGUF(join(models(), `ggml-vocab-${name}.gguf`));
    tokenizers.set(name, t);
  }
  return t;
}

describe('llama.cpp vocab fixtures', () => {
  it('are read the way test-tokenizer-0 reads them: no BOS/EOS, special text as plain text', { timeout: 120_000 }, () => {
    const src = readFileSync(join(checkout(), 'tests/test-tokenizer-0.cpp'), 'utf8');
    expect(src).toContain('const std::string sep = "\\n__ggml_vocab_test__\\n";');
    expect(src).toContain('const bool add_special = false;');
    expect(src).toContain('common_tokenize(ctx, test_kv.first, add_special, false)');
  });

  it('are all either claimed or listed as not claimed', () => {
    const present = readdirSync(models()).filter((f) => f.endsWith('.gguf.inp')).map((f) => f.slice('ggml-vocab-'.length, -'.gguf.inp'.length));
    expect([...present].sort()).toEqual([...CLAIMED, ...Object.keys(NOT_CLAIMED)].sort());
  });

  for (const name of CLAIMED) {
    it(`match every case of ggml-vocab-${name}`, () => {
      const tok = tokenizer(name);
      const cases = readFixture(models(), name);
      expect(cases.length).toBeGreaterThanOrEqual(46);
      const wrong = cases
        .map((c) => ({ text: c.text, want: c.ids, got: tok.encode(c.text, { addSpecial: false, parseSpecial: false }) }))
        .filter((r) => JSON.stringify(r.got) !== JSON.stringify(r.want));
      expect(wrong).toEqual([]);
    });
  }

  it('decode back to their input (pieces concatenated, no clean-up)', () => {
    for (const name of CLAIMED.filter((n) => !LOSSY.has(n))) {
      const tok = tokenizer(name);
      for (const c of readFixture(models(), name)) {
        expect(tok.decode(c.ids, { cleanSpaces: false }), `${name}: ${JSON.stringify(c.text)}`).toBe(c.text);
      }
    }
  });
});

interface RecordedCase {
  text: string;
  plain: number[];
  special: number[];
  decodePlain: string;
  decodeSpecial: [string, string];
  decodeWithBos: string | null;
}
interface RecordedVocab {
  bos: number | null; eos: number | null; eot: number | null; addBos: boolean; addEos: boolean;
  eog: number[]; control: number[]; userDefined: number[]; rstrip: number[]; lstrip: number[];
  cases: RecordedCase[];
  fixtureDecodes: string[];
}
const recorded = JSON.parse(readFileSync(new URL('./testdata/llama-cpp-extra.json', import.meta.url), 'utf8')) as {
  vocabs: Record<string, RecordedVocab>;
};

describe('llama.cpp recorded behaviour', () => {
  it('covers every claimed vocabulary', () => {
    expect(Object.keys(recorded.vocabs).sort()).toEqual([...CLAIMED].sort());
  });

  for (const name of CLAIMED) {
    describe(name, () => {
      const r = recorded.vocabs[name];

      it('has the same special ids, BOS/EOS flags, end-of-generation set and token attributes', () => {
        const tok = tokenizer(name);
        expect([tok.bos ?? null, tok.eos ?? null, tok.eot ?? null, tok.addBos, tok.addEos])
          .toEqual([r.bos, r.eos, r.eot, r.addBos, r.addEos]);
        expect(r.eog.every((id) => tok.isEog(id))).toBe(true);
        expect(tok.vocab.eog.size).toBe(r.eog.length);
        const withAttr = (flag: number) => [...tok.vocab.attrs.keys()].filter((id) => tok.vocab.attrs[id] & flag);
        expect(withAttr(TokenAttr.CONTROL)).toEqual(r.control);
        expect(withAttr(TokenAttr.USER_DEFINED)).toEqual(r.userDefined);
        expect(withAttr(TokenAttr.RSTRIP)).toEqual(r.rstrip);
        expect(withAttr(TokenAttr.LSTRIP)).toEqual(r.lstrip);
      });

      it('tokenizes special-token text the same with and without parseSpecial', () => {
        const tok = tokenizer(name);
        for (const c of r.cases) {
          expect(tok.encode(c.text, { addSpecial: false }), JSON.stringify(c.text)).toEqual(c.plain);
          expect(tok.encode(c.text, { addSpecial: false, parseSpecial: true }), JSON.stringify(c.text)).toEqual(c.special);
        }
      });

      it('detokenizes the same: prefix space, hidden control tokens, space clean-up', () => {
        const tok = tokenizer(name);
        for (const c of r.cases) {
          expect(tok.decode(c.plain)).toBe(c.decodePlain);
          expect(tok.decode(c.special)).toBe(c.decodeSpecial[0]);
          expect(tok.decode(c.special, { special: true })).toBe(c.decodeSpecial[1]);
          if (c.decodeWithBos !== null) expect(tok.decode([tok.bos!, ...c.plain])).toBe(c.decodeWithBos);
        }
        readFixture(models(), name).forEach((c, i) => expect(tok.decode(c.ids)).toBe(r.fixtureDecodes[i]));
      });
    });
  }
});
