/**
 * The in-process fuzz targets: for each input kind, seed inputs built with
 * kiln's own writers, a mutator, and the real parsing entry point (plus the
 * consumers that read its result). `run` returns on acceptance and throws on
 * rejection; the runner classifies what it throws.
 */
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { isDeepStrictEqual } from 'node:util';
import { Store } from '../../store/index.js';
import { formatModelfile, parametersToText, parseModelfile } from '../../daemon/modelfile.js';
import { modelInfo, summarizeModel } from '../../engine/gguf/metadata.js';
import type { GGUFFile } from '../../engine/gguf/parser.js';
import { parseGGUF, readGGUFFileSync } from '../../engine/gguf/reader.js';
import { sampleBytes, sampleSpec } from '../../engine/gguf/sample.js';
import { GGUF_VALUE_SIZE, GGUFValueType as VT } from '../../engine/gguf/types.js';
import { parseGoTemplate } from '../../engine/template/go-template.js';
import { parseOllamaTemplate, renderOllamaTemplate, type ChatMessage, type Tool } from '../../engine/template/ollama.js';
import { encodeManifest, manifestSize, MEDIA, parseManifest, sha256Digest, type Manifest } from '../../common/manifest.js';
import { parseModelName } from '../../common/model-name.js';
import { exportModel, importArchive } from '../../registry/oci-layout.js';
import { mutateBytesN, mutateJson } from './mutate.js';
import { type Rng } from './rng.js';
import { fixChecksum, headerOffsets, packTar, type TarEntry } from './tar.js';

const UP2 = fileURLToPath(new URL('../..', import.meta.url));
/** The repository root, from the TS sources (bench/fuzz) or the compiled ones (dist/bench/fuzz). */
export const REPO = UP2.endsWith('/dist/') ? UP2.slice(0, -'dist/'.length) : UP2;

export interface TargetInstance {
  seeds: Uint8Array[];
  /** A mutant of seed `seed`. */
  mutate(seed: number, r: Rng): Uint8Array;
  /** Parses (and consumes) the input: returns if accepted, throws if rejected. */
  run(bytes: Uint8Array, seed: number): unknown;
  close(): void;
  /**
   * The largest single allocation an input of `n` bytes allows, where the
   * target knows better than the runner's general 64 x n + 64 MiB.
   */
  maxAllocation?(n: number): number;
}

/** For parsers that copy at most what they read, with a fixed buffer or two beside it. */
const tight = (constant: number) => (n: number) => 4 * n + constant;

export interface TargetDef {
  name: string;
  open(): Promise<TargetInstance>;
}

/** A finding the target itself detects: the parser accepted something it must not have. */
export class InvariantError extends Error {
  override name = 'InvariantError';
}
function invariant(ok: boolean, msg: string): void {
  if (!ok) throw new InvariantError(msg);
}

/** Equal once written as JSON (the form manifests and parameters are stored in): key order aside, and -0 is 0. */
function sameAsJson(x: unknown, y: unknown): boolean {
  return isDeepStrictEqual(JSON.parse(JSON.stringify(x)), JSON.parse(JSON.stringify(y)));
}

const b = (s: string) => new Uint8Array(Buffer.from(s, 'utf8'));
const text = (x: Uint8Array) => Buffer.from(x.buffer, x.byteOffset, x.byteLength).toString('utf8');

// ---------------------------------------------------------------------------
// GGUF headers

/** Offsets of the u64 counts and lengths of a valid GGUF, found by a walk independent of the parser. */
export function ggufLengthFields(buf: Uint8Array): number[] {
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const out = [8, 16];
  let p = 24;
  const str = () => { out.push(p); p += 8 + Number(dv.getBigUint64(p, true)); };
  const nT = Number(dv.getBigUint64(8, true));
  const nKV = Number(dv.getBigUint64(16, true));
  for (let i = 0; i < nKV; i++) {
    str();
    const t = dv.getUint32(p, true);
    out.push(p);
    p += 4;
    if (t === VT.STRING) str();
    else if (t === VT.ARRAY) {
      const it = dv.getUint32(p, true) as keyof typeof GGUF_VALUE_SIZE;
      out.push(p, p + 4);
      const n = Number(dv.getBigUint64(p + 4, true));
      p += 12;
      if (it === VT.STRING) for (let k = 0; k < n; k++) str();
      else p += n * GGUF_VALUE_SIZE[it];
    } else p += GGUF_VALUE_SIZE[t as keyof typeof GGUF_VALUE_SIZE];
  }
  for (let i = 0; i < nT; i++) {
    str();
    const nd = dv.getUint32(p, true);
    out.push(p);
    for (let d = 0; d < nd; d++) out.push(p + 4 + 8 * d);
    p += 4 + 8 * nd;
    out.push(p, p + 4); // type, offset
    p += 12;
  }
  return out;
}

/** Bytes that an accepted parse decoded: strings and arrays must be backed by the input. */
export function decodedBytes(g: GGUFFile): number {
  let n = 0;
  for (const [k, v] of g.kv) {
    n += k.length;
    if (v.type === VT.STRING) n += v.value.length;
    else if (v.type === VT.ARRAY) {
      if (v.itemType === VT.STRING) for (const s of v.value as string[]) n += 8 + s.length;
      else n += v.value.length * GGUF_VALUE_SIZE[v.itemType];
    }
  }
  return n;
}

const GGUF_DICT = ['GGUF', '\x03\0\0\0', '\x02\0\0\0', 'general.alignment', 'general.architecture', 'tokenizer.ggml.tokens', '\x09\0\0\0', '\x08\0\0\0', '\x0d\0\0\0'];

const gguf: TargetDef = {
  name: 'gguf',
  async open() {
    const kjv = readFileSync(join(REPO, 'models', 'kjv', 'kjv-f16.gguf'));
    const spec = sampleSpec();
    spec.alignment = 64;
    const seeds = [sampleBytes(), sampleBytes(spec), new Uint8Array(kjv.subarray(0, 64 << 10))];
    const fileSizes = [seeds[0].length, seeds[1].length, kjv.length];
    const hot = seeds.map(ggufLengthFields);
    const tmp = mkdtempSync(join(tmpdir(), 'kiln-fuzz-gguf-'));
    const path = join(tmp, 'mutant.gguf');
    let n = 0;
    return {
      seeds,
      mutate: (s, r) => mutateBytesN(seeds[s], r, GGUF_DICT, seeds, hot[s]),
      run(bytes, s) {
        // The kjv seed is the head of a 10 MB file: parsed as a prefix, so tensor bounds are checked against the whole.
        const fileSize = Math.max(bytes.length, s === 2 ? fileSizes[2] : bytes.length);
        let g: GGUFFile;
        if (s !== 2 && n++ % 4 === 0) {
          writeFileSync(path, bytes);
          g = readGGUFFileSync(path, { chunkSize: 1 + (n % 97) });
        } else g = parseGGUF(bytes, { fileSize });
        invariant(decodedBytes(g) <= bytes.length, `decoded ${decodedBytes(g)} bytes from a ${bytes.length}-byte input`);
        for (const t of g.tensors) invariant(t.absOffset + t.byteSize <= fileSize, `tensor ${t.name} ends past the file`);
        // What /api/show and create read from a parsed header.
        summarizeModel(g);
        modelInfo(g, true);
        return g;
      },
      close: () => rmSync(tmp, { recursive: true, force: true }),
      // Numeric arrays are copied once; the fd reader's window never exceeds the file.
      maxAllocation: tight(1 << 20),
    };
  },
};

// ---------------------------------------------------------------------------
// Manifests

const DIGESTS = ['sha256:' + 'a'.repeat(64), 'sha256:' + '0'.repeat(64), 'sha256:' + 'f'.repeat(63), 'sha256:../../../etc/passwd', 'sha512:' + 'a'.repeat(128), 'SHA256:' + 'A'.repeat(64)];
const MANIFEST_KEYS = ['schemaVersion', 'mediaType', 'config', 'layers', 'digest', 'size', 'from', 'annotations', '__proto__', 'constructor'];
const MANIFEST_STRINGS = [...Object.values(MEDIA), ...DIGESTS, 'application/x', 'a/b/c', '', 'model', '/etc/passwd'];

function sampleManifests(): Manifest[] {
  const d = (i: number) => sha256Digest(b(`blob ${i}`));
  const base: Manifest = {
    schemaVersion: 2,
    mediaType: MEDIA.dockerManifest,
    config: { mediaType: MEDIA.config, digest: d(0), size: 210 },
    layers: [
      { mediaType: MEDIA.model, digest: d(1), size: 10972064, from: '/models/kjv-f16.gguf' },
      { mediaType: MEDIA.template, digest: d(2), size: 14 },
      { mediaType: MEDIA.params, digest: d(3), size: 30 },
    ],
  };
  return [
    base,
    { ...base, mediaType: MEDIA.ociManifest, layers: [] },
    { ...base, layers: Array.from({ length: 12 }, (_, i) => ({ mediaType: i % 2 ? MEDIA.license : MEDIA.adapter, digest: d(10 + i), size: i * 1000 })) },
  ];
}

const manifest: TargetDef = {
  name: 'manifest',
  async open() {
    const seeds = sampleManifests().map((m) => new Uint8Array(encodeManifest(m)));
    return {
      seeds,
      mutate: (s, r) => (r.chance(0.7) ? mutateJson(seeds[s], r, MANIFEST_KEYS, MANIFEST_STRINGS, seeds) : mutateBytesN(seeds[s], r, ['"', '{', '}', ':', ',', 'sha256:', '-1', '1e999'], seeds)),
      run(bytes) {
        const m = parseManifest(bytes);
        invariant(manifestSize(m) >= 0, 'negative size');
        // What kiln writes back must parse to the same manifest.
        invariant(sameAsJson(parseManifest(encodeManifest(m)), m), 'encode/parse round trip differs');
        return m;
      },
      close() {},
      maxAllocation: tight(1 << 20),
    };
  },
};

// ---------------------------------------------------------------------------
// OCI image-layout archives

function untar(buf: Uint8Array): TarEntry[] {
  return headerOffsets(buf).map((p) => {
    const h = Buffer.from(buf.subarray(p, p + 512));
    const str = (at: number, len: number) => h.subarray(at, at + len).toString('utf8').replace(/\0.*$/s, '');
    const size = parseInt(str(124, 12), 8);
    return { name: str(0, 100), type: str(156, 1) || '0', linkname: str(157, 100), body: buf.slice(p + 512, p + 512 + size) };
  });
}

const TAR_NAMES = ['../evil', '/tmp/evil', 'blobs/sha256/../../evil', 'blobs/sha256/evil', 'blobs/', 'blobs/sha256/', './index.json', 'index.json', 'oci-layout', './oci-layout', '', 'blobs/sha256/' + 'a'.repeat(64), 'x'.repeat(99)];
const TAR_TYPES = ['0', '5', '1', '2', '3', '4', '6', '7', 'g', 'x', 'L', 'K', '\0'];
const INDEX_KEYS = ['manifests', 'schemaVersion', 'mediaType', 'digest', 'size', 'annotations', 'org.opencontainers.image.ref.name', 'io.kiln.model.name', 'imageLayoutVersion', '__proto__'];
const INDEX_STRINGS = [...MANIFEST_STRINGS, 'application/vnd.oci.image.index.v1+json', '1.0.0', 'ns/m:7b', 'x:y', '../../x', 'registry.example.com/a/b:c', 'a'.repeat(300)];

function mutateEntries(seed: TarEntry[], r: Rng, seedBytes: Uint8Array[]): Uint8Array {
  const es = seed.map((e) => ({ ...e }));
  const rounds = 1 + r.int(2);
  for (let k = 0; k < rounds && es.length; k++) {
    const i = r.int(es.length);
    const e = es[i];
    switch (r.int(7)) {
      case 0:
      case 1: { // a JSON entry changed; the manifest sometimes re-named by its new digest, so the importer reads it
        const j = es.findIndex((x) => x.name === 'index.json' || x.name === 'oci-layout' || (x.body.length < 4096 && x.body[0] === 0x7b && /"layers"/.test(text(x.body))));
        if (j < 0) break;
        const before = es[j];
        const body = mutateJson(before.body, r, [...MANIFEST_KEYS, ...INDEX_KEYS], INDEX_STRINGS, seedBytes);
        es[j] = { ...before, body };
        if (before.name.startsWith('blobs/') && r.chance(0.7)) {
          const digest = sha256Digest(body);
          es[j].name = `blobs/sha256/${digest.slice(7)}`;
          const ix = es.find((x) => x.name === 'index.json');
          if (ix) ix.body = b(text(ix.body).replace(`sha256:${before.name.slice(13)}`, digest).replace(/"size":\d+/, `"size":${body.length}`));
        }
        break;
      }
      case 2: es[i] = { ...e, name: r.pick(TAR_NAMES) }; break;
      case 3: es[i] = { ...e, type: r.pick(TAR_TYPES), linkname: r.pick(['', '/etc/passwd', '../x', e.name]) }; break;
      case 4: es.splice(i, 1); break;
      case 5: es.splice(r.int(es.length + 1), 0, { ...e }); break;
      case 6: es[i] = { ...e, body: mutateBytesN(e.body, r) }; break;
    }
  }
  return packTar(es);
}

const oci: TargetDef = {
  name: 'oci',
  async open() {
    // On tmpfs where there is one: the store fsyncs each blob, and the sweep is about parsing, not disks.
    const home = mkdtempSync(join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), 'kiln-fuzz-oci-'));
    const src = new Store(join(home, 'src.db'), join(home, 'src'));
    const dst = new Store(join(home, 'dst.db'), join(home, 'dst'));
    const put = (name: string, layers: [string, Uint8Array][]) => {
      const c = src.blobs.writeBuffer(Buffer.from('{"model_format":"gguf","model_family":"llama"}'));
      src.models.putManifest(parseModelName(name), {
        schemaVersion: 2,
        mediaType: MEDIA.dockerManifest,
        config: { mediaType: MEDIA.config, digest: c.digest, size: c.size },
        layers: layers.map(([mediaType, body]) => {
          const w = src.blobs.writeBuffer(Buffer.from(body));
          return { mediaType, digest: w.digest, size: w.size };
        }),
      });
    };
    put('ns/m:7b', [[MEDIA.model, sampleBytes()], [MEDIA.template, b('{{ .Prompt }}')]]);
    put('tiny', [[MEDIA.system, b('be brief')], [MEDIA.params, b('{"stop":["x"]}')], [MEDIA.license, b('MIT')]]);
    const seeds: Uint8Array[] = [];
    for (const n of ['ns/m:7b', 'tiny']) {
      const chunks: Buffer[] = [];
      for await (const c of exportModel(src, parseModelName(n), n)) chunks.push(c as Buffer);
      seeds.push(new Uint8Array(Buffer.concat(chunks)));
    }
    src.close();
    const entries = seeds.map(untar);
    const headers = seeds.map(headerOffsets);
    const hot = headers.map((hs) => hs.flatMap((h) => [h + 124, h + 128, h + 156, h + 345]));
    return {
      seeds,
      mutate(s, r) {
        if (r.chance(0.5)) return mutateEntries(entries[s], r, seeds);
        const out = mutateBytesN(seeds[s], r, ['../', '\0', '0000777', '77777777777', 'ustar', '\x80', 'index.json', 'blobs/sha256/'], seeds, hot[s]);
        if (r.chance(0.7)) {
          const fixed = out === seeds[s] ? out.slice() : out;
          for (const h of headers[s]) if (h + 512 <= fixed.length) fixChecksum(fixed, h);
          return fixed;
        }
        return out;
      },
      async run(bytes) {
        return importArchive(dst, Readable.from([Buffer.from(bytes)]), {}, () => {});
      },
      close() {
        dst.close();
        rmSync(home, { recursive: true, force: true });
      },
      // Entries stream to the store; only the small JSON entries are held, and stream buffers.
      maxAllocation: tight(4 << 20),
    };
  },
};

/** Files the OCI target's store holds outside its blobs (temp files left behind), for the leak check in tests. */
export function strayFiles(dir: string): string[] {
  return readdirSync(dir, { recursive: true }).map(String).filter((f) => /tmp|partial/i.test(f));
}

// ---------------------------------------------------------------------------
// Modelfiles

const MODELFILES = [
  ['# a mario blueprint', 'FROM llama3.2', '', 'PARAMETER temperature 1', 'PARAMETER num_ctx 4096', 'PARAMETER stop <|start_header_id|>', 'PARAMETER stop "<|eot_id|>"',
    'PARAMETER use_mmap false', 'SYSTEM You are Mario from super mario bros, acting as an assistant.',
    'TEMPLATE """{{ if .System }}<|start_header_id|>system<|end_header_id|>', '', '{{ .System }}<|eot_id|>{{ end }}"""', 'ADAPTER ./lora.gguf',
    'MESSAGE user Is Toronto in Canada?', 'MESSAGE assistant "yes"', 'LICENSE """MIT"""', 'LICENSE Apache-2.0'].join('\n'),
  'from m\r\nSystem hi\r\nparameter TOP_K 5\r\nPARAMETER seed -1\r\nPARAMETER mirostat_eta 1e-1\r\nPARAMETER numa TRUE',
  'FROM "/models/my model.gguf"\nSYSTEM "say \\"hi\\" \\\\ bye"\nTEMPLATE """a \\"\\"\\" b"""\nMESSAGE System """line 1\nline 2"""\n  # indented comment',
  'FROM ./kjv.gguf\nTEMPLATE """{{- range .Messages }}{{ .Role }}: {{ .Content }}\n{{ end }}"""\nPARAMETER stop User:\nPARAMETER num_predict 64',
];
const MODELFILE_DICT = ['FROM ', 'from ', 'PARAMETER ', 'TEMPLATE ', 'SYSTEM ', 'ADAPTER ', 'MESSAGE ', 'LICENSE ', ' user ', ' assistant ', 'stop ', 'num_ctx ', 'temperature ',
  'use_mmap ', '__proto__ ', 'constructor ', '"""', '"', '\\', '\\"', '\n', '\r\n', '\r', '#', '\t', ' ', '\u2028', '\0'];

const modelfile: TargetDef = {
  name: 'modelfile',
  async open() {
    const seeds = MODELFILES.map(b);
    return {
      seeds,
      mutate: (s, r) => mutateBytesN(seeds[s], r, MODELFILE_DICT, seeds),
      run(bytes) {
        const mf = parseModelfile(text(bytes));
        parametersToText(mf.parameters);
        // What kiln renders for /api/show must read back as the same Modelfile.
        const again = parseModelfile(formatModelfile(mf));
        invariant(sameAsJson(again, mf), 'formatModelfile does not read back the same');
        return mf;
      },
      close() {},
      maxAllocation: tight(1 << 20),
    };
  },
};

// ---------------------------------------------------------------------------
// Go templates (Ollama's TEMPLATE)

const TEMPLATE_DICT = ['{{', '}}', '{{- ', ' -}}', 'if ', 'else ', 'else if ', 'end', 'range ', 'with ', 'define "a"', 'template "a" .', 'block "b" .', 'break', 'continue',
  '.Messages', '.Tools', '.System', '.Prompt', '.Response', '.Content', '.Role', '.ToolCalls', '.Function.Arguments', '$', '$.', '$x := ', '$x = ', '$i, $m := ', '|', '(', ')',
  '"s"', '`r`', "'c'", '1', '-2', '0x1f', '1e9', 'nil', 'true', 'len ', 'index ', 'slice ', 'eq ', 'lt ', 'and ', 'or ', 'not ', 'printf "%d %s %99999999d" ', 'printf "%*d" ',
  'print ', 'json ', 'html ', 'js ', 'urlquery ', 'call ', '{{/* c */}}', '\n', ' '];

const messages: ChatMessage[] = [
  { role: 'system', content: 'be brief' },
  { role: 'user', content: 'What is the weather in Paris?' },
  { role: 'assistant', content: '', tool_calls: [{ function: { name: 'get_weather', arguments: { location: 'Paris', n: 2, nested: { a: [1, 'b'] } } } }] },
  { role: 'tool', content: '22', tool_name: 'get_weather' },
  { role: 'user', content: 'and <b>tomorrow</b> & after?' },
];
const tools: Tool[] = [{
  type: 'function',
  function: {
    name: 'get_weather', description: 'Get the weather',
    parameters: { type: 'object', required: ['location'], properties: { location: { type: 'string', description: 'City' }, unit: { type: 'string', enum: ['c', 'f'] } } as never },
  },
}];
const GO_DATA = { A: [1, 2, 3], B: { C: 'x', D: [{ E: 1 }] }, S: 'str', N: 0, M: { k: 'v' }, F: 1.5, T: true, Nil: null };

const template: TargetDef = {
  name: 'template',
  async open() {
    const dir = join(REPO, 'engine', 'template', 'fixtures');
    const seeds = readdirSync(dir).filter((f) => f.endsWith('.gotmpl')).sort().map((f) => new Uint8Array(readFileSync(join(dir, f))));
    seeds.push(b('{{ .System }} {{ .Prompt }}'), b('{{ range $i, $v := .A }}{{ if eq $i 1 }}{{ continue }}{{ end }}{{ printf "%d:%v " $i $v }}{{ end }}{{ with .B }}{{ .C }}{{ len .D }}{{ end }}{{ index .M "k" }}'));
    return {
      seeds,
      mutate: (s, r) => mutateBytesN(seeds[s], r, TEMPLATE_DICT, seeds),
      run(bytes) {
        const src = text(bytes);
        // As the daemon runs a model's TEMPLATE: Ollama's layer, chat and completion shapes, default limits.
        const t = parseOllamaTemplate(src);
        renderOllamaTemplate(t, { messages, tools, think: true });
        renderOllamaTemplate(t, { prompt: 'p', suffix: 's' });
        return parseGoTemplate(src).execute(GO_DATA);
      },
      close() {},
    };
  },
};

export const TARGETS: readonly TargetDef[] = [gguf, manifest, oci, modelfile, template];

/**
 * Targets that misbehave on purpose, one per finding kind, so that tests can
 * check the harness catches each (a true infinite loop among them).
 */
export const SELFTEST_TARGETS: readonly TargetDef[] = [
  ['selftest-crash', (x: Uint8Array) => { if (x[0] === 0x21) throw new TypeError('boom'); }],
  ['selftest-hang', (x: Uint8Array) => { if (x[0] === 0x21) for (;;); }],
  ['selftest-alloc', (x: Uint8Array) => { if (x[0] === 0x21) return new Uint8Array(256 << 20).length; }],
  ['selftest-slow', (x: Uint8Array) => { if (x[0] === 0x21) { const end = Date.now() + 2100; while (Date.now() < end); } }],
].map(([name, fn]) => ({
  name: name as string,
  async open(): Promise<TargetInstance> {
    const seeds = [b('a'), b('!')];
    return { seeds, mutate: (s) => seeds[s], run: (x) => (fn as (x: Uint8Array) => unknown)(x), close() {} };
  },
}));

export function findTarget(name: string): TargetDef {
  const t = [...TARGETS, ...SELFTEST_TARGETS].find((x) => x.name === name);
  if (!t) throw new Error(`no fuzz target '${name}' (have ${TARGETS.map((x) => x.name).join(', ')}, json)`);
  return t;
}
