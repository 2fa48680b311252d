import { createHash } from 'node:crypto';
import { createReadStream, readFileSync, statSync } from 'node:fs';
import { basename, dirname, isAbsolute, resolve } from 'node:path';
import { homedir } from 'node:os';
import { KilnError } from '../../common/errors.js';
import type { CreateRequest, ProgressResponse } from '../../daemon/api/types.js';
import { parseModelfile } from '../../daemon/modelfile.js';
import type { Client } from '../client.js';
import { showProgress } from '../ui/progress.js';
import { reportText } from './quality.js';

async function sha256File(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
  return `sha256:${h.digest('hex')}`;
}

function looksLikePath(from: string): boolean {
  return from.startsWith('.') || from.startsWith('/') || from.startsWith('~') || /\.gguf$/i.test(from);
}

/**
 * `kiln create NAME -f Modelfile`: a FROM that is a file is hashed here,
 * uploaded to POST /api/blobs/:digest unless the daemon has it already, and
 * named in /api/create's `files`; a FROM that is a model name becomes `from`.
 */
export async function createCommand(client: Client, name: string, modelfilePath: string, quantize?: string, report?: { text?: string }, imatrix?: string): Promise<void> {
  if (imatrix !== undefined && !quantize) throw new KilnError('E_BAD_REQUEST', '--imatrix needs --quantize TYPE');
  if (imatrix !== undefined) {
    try {
      if (!statSync(imatrix).isFile()) throw new Error('not a file');
    } catch (e) {
      throw new KilnError('E_BAD_REQUEST', `cannot read the imatrix ${imatrix}: ${(e as Error).message}`);
    }
  }
  const mfPath = resolve(modelfilePath);
  let text: string;
  try {
    text = readFileSync(mfPath, 'utf8');
  } catch (e) {
    throw new KilnError('E_MODELFILE', `cannot read ${modelfilePath}: ${(e as Error).message}`);
  }
  const mf = parseModelfile(text);
  const req: CreateRequest = { model: name, stream: true };
  if (quantize) req.quantize = quantize;
  if (report) {
    req.report = true;
    if (report.text !== undefined) {
      const t = reportText(report.text);
      req.report_text = t.text;
      req.report_text_name = t.name;
    }
  }
  if (mf.template !== undefined) req.template = mf.template;
  if (mf.system !== undefined) req.system = mf.system;
  if (Object.keys(mf.parameters).length) req.parameters = mf.parameters;
  if (mf.license.length) req.license = mf.license;
  if (mf.messages.length) req.messages = mf.messages;

  /** Uploads a file as a blob unless the daemon has it already; yields progress; returns its digest. */
  async function* upload(file: string): AsyncGenerator<ProgressResponse, string> {
    const total = statSync(file).size;
    const digest = await sha256File(file);
    if ((await client.status('HEAD', `/api/blobs/${digest}`)) === 404) {
      const stream = createReadStream(file);
      let completed = 0;
      const upload = client.status('POST', `/api/blobs/${digest}`, stream);
      const status = `copying file ${digest}`;
      const ticker: ProgressResponse[] = [];
      stream.on('data', (c) => {
        completed += (c as Buffer).length;
        ticker.push({ status, digest, total, completed });
      });
      yield { status, digest, total, completed: 0 };
      let done = false;
      upload.finally(() => (done = true)).catch(() => {});
      while (!done) {
        await new Promise((r) => setTimeout(r, 100));
        const last = ticker.splice(0).pop();
        if (last) yield last;
      }
      await upload;
      yield { status, digest, total, completed: total };
    }
    return digest;
  }

  async function* events(): AsyncGenerator<ProgressResponse> {
    if (imatrix !== undefined) req.imatrix = yield* upload(resolve(imatrix));
    const from = mf.from!;
    const expanded = from.startsWith('~') ? homedir() + from.slice(1) : from;
    const file = isAbsolute(expanded) ? expanded : resolve(dirname(mfPath), expanded);
    let isFile = false;
    try {
      isFile = statSync(file).isFile();
    } catch {
      if (looksLikePath(from)) throw new KilnError('E_MODELFILE', `FROM ${from}: no such file (${file})`);
    }
    if (isFile) {
      yield { status: 'gathering model components' };
      const digest = yield* upload(file);
      req.files = { [basename(file)]: digest };
    } else {
      req.from = from;
    }
    yield* client.stream<ProgressResponse>('/api/create', req);
  }
  await showProgress(events());
}
