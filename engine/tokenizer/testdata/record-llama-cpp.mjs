// Records llama.cpp's answers for the tokenizer cases its own vocab fixtures
// leave out: special-token parsing, whitespace stripping around specials,
// detokenization (prefix space, clean-up, hidden control tokens) and the
// end-of-generation set. Runs the llama.cpp build inside node-llama-cpp on the
// ggml-vocab-*.gguf files of the same llama.cpp source.
//
//   node engine/tokenizer/testdata/record-llama-cpp.mjs <llama.cpp checkout> [vocab ...]
//
// With vocab names, only those are recorded and merged into the existing file.
// (The checkout is the clone of node-llama-cpp's gitRelease.bundle that
// llama-cpp-vocab.test.ts makes under the OS temp dir.) Writes llama-cpp-extra.json.
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { getLlama } from 'node-llama-cpp';

const ALL_VOCABS = ['llama-spm', 'phi-3', 'llama-bpe', 'qwen2', 'qwen35', 'gpt-2', 'mpt', 'falcon', 'starcoder',
  'refact', 'command-r', 'deepseek-llm', 'deepseek-coder', 'gemma-4', 'bert-bge'];
const checkout = process.argv[2];
if (!checkout) throw new Error('usage: record-llama-cpp.mjs <llama.cpp checkout> [vocab ...]');
const only = process.argv.slice(3);
const VOCABS = only.length > 0 ? only : ALL_VOCABS;
const outFile = join(dirname(fileURLToPath(import.meta.url)), 'llama-cpp-extra.json');

/** WordPiece's own cases: normalization, splitting and the unknown token. */
const WORDPIECE_TEXTS = [
  'Café naïve RÉSUMÉ Ångström façade İstanbul ΣΊΣΥΦΟΣ',
  'e\u0301 a\u0308b \u00bd \u2163 \uFB01 \u1E9E',
  '中文字符 and 日本語のテキスト 한국어 ㄱ',
  'a.b,c!d?e;f:g(h)[i]{j}<k>"l\'m`n~o@p#q$r%s^t&u*v_w-x+y=z|/\\ « » ¿ ¡ — …',
  'xy\uFFFDz\u200Bw\u00ADv\tu\u3000t\u00A0s\u2028r',
  'supercalifragilisticexpialidocious pneumonoultramicroscopicsilicovolcanoconiosis',
  'ϡϡϡ 𓀀𓀁 qqqqzzzzxxxx',
  '[CLS] [SEP] [MASK] [UNK] [PAD] [unused0]',
];

const llama = await getLlama({ gpu: false, build: 'never', logLevel: 'error' });
const out = { recordedWith: 'node-llama-cpp 3.21.1 (llama.cpp bundled with it), vocab only, CPU', vocabs: {} };

for (const name of VOCABS) {
  const file = join(checkout, 'models', `ggml-vocab-${name}.gguf`);
  const model = await llama.loadModel({ modelPath: file, vocabOnly: true });
  const control = [];
  const userDefined = [];
  const rstrip = [];
  const lstrip = [];
  const eog = [];
  let size = 0;
  for (const id of model.iterateAllTokens()) {
    size++;
    const a = model.getTokenAttributes(id);
    if (a.control) control.push(id);
    if (a.userDefined) userDefined.push(id);
    if (a.rstrip) rstrip.push(id);
    if (a.lstrip) lstrip.push(id);
    if (model.isEogToken(id)) eog.push(id);
  }
  const text = (id) => model._model.getTokenString(id);
  const t = model.tokens;
  const specials = [t.bos, t.eos, t.eot].filter((x) => x != null);
  const [a, b, c] = [specials[0], specials[1] ?? specials[0], specials[2] ?? specials[0]].map(text);
  const user = userDefined.length > 0 ? text(userDefined[Math.min(userDefined.length - 1, 3)]) : '<user-defined>';
  const texts = name === 'bert-bge' ? [...WORDPIECE_TEXTS] : [];
  texts.push(
    `${a}Hello world${b}`,
    ` ${c}\n\nUser: hi ${b} ${a}  after`,
    `no${b}space${b}${b}between`,
    `${user} x ${user}y${user}`,
    `line\n${c}\n  indented\n${c}`,
    `partial ${a.slice(0, -1)} and ${a}${a.slice(1)}`,
    " Hello , world ! ' quoted ' it 's we 're I 'll don 't . ok ?",
    '日本語 🦙 x\u00a0y\u3000z',
  );
  const cases = texts.map((s) => {
    const plain = Array.from(model.tokenize(s, false));
    const special = Array.from(model.tokenize(s, true));
    return {
      text: s, plain, special,
      decodePlain: model.detokenize(plain, false),
      decodeSpecial: [model.detokenize(special, false), model.detokenize(special, true)],
      decodeWithBos: t.bos == null ? null : model.detokenize([t.bos, ...plain], false),
    };
  });
  const outLines = readFileSync(`${file}.out`, 'utf8').split('\n').filter((_, i, all) => i < all.length - 1 || all[i] !== '');
  const fixtureDecodes = outLines.map((l) => {
    const ids = l.trim() === '' ? [] : l.trim().split(' ').map(Number);
    return ids.length === 0 ? '' : model.detokenize(ids, false);
  });
  out.vocabs[name] = {
    bos: t.bos ?? null, eos: t.eos ?? null, eot: t.eot ?? null,
    addBos: model._model.shouldPrependBosToken(), addEos: model._model.shouldAppendEosToken(),
    eog, control, userDefined, rstrip, lstrip, cases, fixtureDecodes,
  };
  await model.dispose();
  console.log(name, size, 'tokens', control.length, 'control', eog.length, 'eog');
}
// One vocabulary per line keeps diffs readable.
if (only.length > 0) {
  const old = JSON.parse(readFileSync(outFile, 'utf8'));
  out.vocabs = { ...old.vocabs, ...out.vocabs };
}
const body = Object.entries(out.vocabs).map(([k, v]) => `  ${JSON.stringify(k)}: ${JSON.stringify(v)}`).join(',\n');
writeFileSync(outFile,
  `{"recordedWith": ${JSON.stringify(out.recordedWith)}, "vocabs": {\n${body}\n}}\n`);
