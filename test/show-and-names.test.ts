import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import OpenAI from 'openai';
import { Ollama } from 'ollama';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kvString } from '../engine/gguf/metadata.js';
import { readGGUFFileSync } from '../engine/gguf/reader.js';
import { gv } from '../engine/gguf/types.js';
import { fileRange, writeGGUF } from '../engine/gguf/writer.js';
import { KJV_F32 } from './helpers/fixtures.js';
import { cleanup, kiln, ROOT, startDaemon, type RunningDaemon } from './helpers/daemon.js';

/**
 * What /api/show says about a model's template, and how responses name the
 * model: against the real daemon, the official clients and the kiln binary.
 */
let d: RunningDaemon;
let ollama: Ollama;
let openai: OpenAI;

const GO_TEMPLATE = '{{ range .Messages }}{{ .Role }}: {{ .Content }}\n{{ end }}assistant:';
// The Jinja template in the demo model's GGUF, read here independently of the daemon.
const JINJA = kvString(readGGUFFileSync(join(ROOT, 'models', 'kjv', 'kjv-f16.gguf')), 'tokenizer.chat_template')!;

beforeAll(async () => {
  d = await startDaemon();
  ollama = new Ollama({ host: d.url });
  openai = new OpenAI({ baseURL: `${d.url}/v1`, apiKey: 'kiln', maxRetries: 0 });
  await ollama.create({ model: 'kjv-go', from: 'kjv', template: GO_TEMPLATE });
});

afterAll(async () => {
  await d?.stop();
  if (d) cleanup(d.home);
});

describe('the template in use', () => {
  it('/api/show gives the GGUF Jinja template when the model has no Ollama template, and says which kind', async () => {
    expect(JINJA).toMatch(/\{%/);
    const s = await ollama.show({ model: 'kjv' });
    expect(s.template).toBe(JINJA);
    expect((s as unknown as Record<string, unknown>).template_kind).toBe('jinja');
    // the modelfile keeps only an Ollama TEMPLATE (a Modelfile's TEMPLATE is read as Go)
    expect(s.modelfile).not.toContain('TEMPLATE');
    const g = await ollama.show({ model: 'kjv-go' });
    expect(g.template).toBe(GO_TEMPLATE);
    expect((g as unknown as Record<string, unknown>).template_kind).toBe('go');
  });
});

describe('responses name the model as the request did', () => {
  const few = { num_predict: 2, temperature: 0 };

  it('/api/generate, /api/chat and /api/embed echo "kjv" (not "kjv:latest"), streaming and not', async () => {
    expect((await ollama.generate({ model: 'kjv', prompt: 'In the beginning', options: few })).model).toBe('kjv');
    for await (const p of await ollama.generate({ model: 'kjv', prompt: 'In the beginning', options: few, stream: true })) expect(p.model).toBe('kjv');
    expect((await ollama.generate({ model: 'kjv', prompt: '' })).model).toBe('kjv'); // load only
    expect((await ollama.chat({ model: 'kjv', messages: [{ role: 'user', content: 'x' }], options: few })).model).toBe('kjv');
    for await (const p of await ollama.chat({ model: 'kjv', messages: [{ role: 'user', content: 'x' }], options: few, stream: true })) expect(p.model).toBe('kjv');
    expect((await ollama.embed({ model: 'kjv', input: 'x' })).model).toBe('kjv');
    // a full name comes back full
    expect((await ollama.generate({ model: 'kjv:latest', prompt: 'x', options: few })).model).toBe('kjv:latest');
  });

  it('the OpenAI routes echo the request\'s model too', async () => {
    expect((await openai.chat.completions.create({ model: 'kjv', messages: [{ role: 'user', content: 'x' }], max_tokens: 2 })).model).toBe('kjv');
    for await (const c of await openai.chat.completions.create({ model: 'kjv', messages: [{ role: 'user', content: 'x' }], max_tokens: 2, stream: true })) expect(c.model).toBe('kjv');
    expect((await openai.completions.create({ model: 'kjv', prompt: 'x', max_tokens: 2 })).model).toBe('kjv');
    expect((await openai.embeddings.create({ model: 'kjv', input: 'x' })).model).toBe('kjv');
  });
});

// Last: spawnSync blocks this process, and a kept-alive connection the daemon closes meanwhile would fail the next fetch.
describe('the kiln binary', () => {
  it('kiln show MODEL --template prints it; kiln show MODEL names its kind', async () => {
    const t = await kiln(['show', 'kjv', '--template'], d.env);
    expect(t.code).toBe(0);
    expect(t.stdout).toBe(`${JINJA.replace(/\n$/, '')}\n`);
    expect((await kiln(['show', 'kjv'], d.env)).stdout).toMatch(/^\s+template\s+Jinja \(the GGUF chat template\)$/m);
    expect((await kiln(['show', 'kjv-go', '--template'], d.env)).stdout).toBe(`${GO_TEMPLATE}\n`);
    expect((await kiln(['show', 'kjv-go'], d.env)).stdout).toMatch(/^\s+template\s+Go \(Ollama template\)$/m);
  });
});

describe('a model file with a vision tower (as Ollama ships gemma3)', () => {
  it('runs as text, and /api/show and kiln show say its projector is not loaded', async () => {
    // kjv-f32 plus the tensors of a vision encoder and projector, as a gemma3 or mistral3 file carries them
    const src = readGGUFFileSync(KJV_F32);
    const path = join(d.home, 'kjv-vision.gguf');
    await writeGGUF(path, {
      kv: new Map([...src.kv, ['llama.vision.block_count', gv.u32(1)]]),
      tensors: [
        ...src.tensors.map((t) => ({ name: t.name, dims: t.dims, type: t.type, data: fileRange(KJV_F32, t.absOffset, t.byteSize) })),
        { name: 'v.patch_embd.weight', dims: [16, 4], type: 0, data: new Uint8Array(256) },
        { name: 'mm.input_projection.weight', dims: [16, 4], type: 0, data: new Uint8Array(256) },
      ],
    });
    writeFileSync(join(d.home, 'Modelfile.vision'), `FROM ${path}\n`);
    const created = await kiln(['create', 'kjv-vision', '-f', join(d.home, 'Modelfile.vision')], d.env);
    expect(created.code, created.stderr).toBe(0);

    const s = (await ollama.show({ model: 'kjv-vision' })) as unknown as Record<string, unknown>;
    expect(s.vision).toMatch(/vision tensors in the model file, not loaded: kiln runs this model as text/);
    expect(s.projector_info).toEqual({});
    expect(s.capabilities).not.toContain('vision');
    expect((await ollama.show({ model: 'kjv' })) as unknown as Record<string, unknown>).not.toHaveProperty('vision');
    expect((await kiln(['show', 'kjv-vision'], d.env)).stdout).toMatch(/^\s+Projector\n\s+vision\s+vision tensors in the model file, not loaded: kiln runs this model as text$/m);

    const r = await ollama.generate({ model: 'kjv-vision', prompt: 'In the beginning', options: { num_predict: 4, temperature: 0 } });
    expect(r.eval_count).toBe(4);
  });
});
