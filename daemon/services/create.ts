import { rmSync, writeFileSync } from 'node:fs';
import { KilnError } from '../../common/errors.js';
import { readGGUFFile } from '../../engine/gguf/reader.js';
import { formatParameterCount, summarizeModel } from '../../engine/gguf/metadata.js';
import { parseDigest, type Digest } from '../../common/digest.js';
import { parseMix, planQuantization } from '../../engine/quantize/policy.js';
import { refuseWithoutImatrix } from '../../engine/quantize/quantize.js';
import { MEDIA, type Descriptor, type Manifest } from '../../common/manifest.js';
import { parseModelName } from '../../common/model-name.js';
import type { CreateRequest, ProgressResponse, QualityReport } from '../api/types.js';
import type { Store } from '../../store/index.js';
import { readModelConfig, type ModelConfig } from './model-config.js';
import { readLayers } from './models.js';
import { quantizeInChild } from './quantize-child.js';
import { requestName, findModel } from './resolve.js';

type Progress = (p: ProgressResponse) => void;

const TEXT_LAYERS = [MEDIA.template, MEDIA.system, MEDIA.params, MEDIA.messages, MEDIA.license] as const;

function blobDigest(store: Store, file: string, value: string): Digest {
  const d = parseDigest(value);
  if (!store.blobs.has(d)) {
    throw new KilnError('E_BLOB_NOT_FOUND', `blob ${d} for '${file}' is not on the server: upload it with POST /api/blobs/${d} first`);
  }
  return d;
}

/**
 * POST /api/create: builds a manifest from a base model (`from`) and/or an
 * uploaded GGUF (`files`), with template/system/parameters/license/messages as
 * their own layers, exactly as Ollama lays a model out. Every blob is complete
 * before the manifest that names it is written, in one transaction.
 */
export async function createModel(store: Store, req: CreateRequest, progress: Progress, signal?: AbortSignal): Promise<void> {
  // Every blob the new manifest will name stays pinned until the manifest is written: a delete, copy or
  // prune meanwhile (a quantize takes a while) cannot take a base model's layer from under it.
  const releases: (() => void)[] = [];
  const pin = (d: Digest) => releases.push(store.blobs.pin([d]));
  try {
    await build(store, req, progress, pin, signal);
  } finally {
    for (const release of releases) release();
  }
}

async function build(store: Store, req: CreateRequest, progress: Progress, pin: (d: Digest) => void, signal?: AbortSignal): Promise<void> {
  const typed = requestName(req);
  const name = parseModelName(typed);
  const mix = req.quantize ? parseMix(req.quantize) : undefined;
  if ((req.report || req.report_text !== undefined) && !mix) throw new KilnError('E_BAD_REQUEST', 'report needs quantize: the report measures the quantized model against its source');
  if (req.report_text !== undefined && !req.report_text.trim()) throw new KilnError('E_BAD_REQUEST', 'report_text is empty');
  if (req.imatrix !== undefined && !mix) throw new KilnError('E_BAD_REQUEST', 'imatrix needs quantize');
  const imatrix = req.imatrix !== undefined ? blobDigest(store, 'imatrix', req.imatrix) : undefined;
  if (imatrix) pin(imatrix);
  if (req.adapters && Object.keys(req.adapters).length) throw new KilnError('E_BAD_REQUEST', 'adapters are not supported yet');
  if (!req.from && !(req.files && Object.keys(req.files).length)) {
    throw new KilnError('E_BAD_REQUEST', "neither 'from' or 'files' was specified");
  }

  let layers: Descriptor[] = [];
  let config: ModelConfig = {};
  let parameters: Record<string, unknown> = {};
  let parent = '';
  /** What a quality report names as its source: the base model or the uploaded file. */
  let sourceName: string | undefined;

  if (req.from) {
    const base = findModel(store, req.from);
    parent = base.name.display;
    sourceName = parent;
    layers = base.record.manifest.layers.slice();
    for (const l of layers) pin(l.digest);
    config = { ...readModelConfig(store.blobs, base.record.manifest.config.digest) };
    const params = layers.find((l) => l.mediaType === MEDIA.params);
    if (params) parameters = readLayers(store, base.record).parameters;
  }

  if (req.files) {
    const entries = Object.entries(req.files);
    const ggufs = entries.filter(([f]) => f.toLowerCase().endsWith('.gguf'));
    if (ggufs.length !== 1 || entries.length !== 1) {
      throw new KilnError('E_BAD_REQUEST', 'files must name exactly one .gguf file (safetensors import is not supported)');
    }
    const [file, value] = ggufs[0];
    sourceName = file;
    const digest = blobDigest(store, file, value);
    pin(digest);
    progress({ status: 'parsing GGUF' });
    const gguf = await readGGUFFile(store.blobs.path(digest));
    const s = summarizeModel(gguf);
    config = {
      ...config,
      model_format: 'gguf',
      model_family: s.architecture,
      model_families: [s.architecture],
      model_type: formatParameterCount(s.parameterCount),
      file_type: s.fileType,
    };
    // a new model layer: any quality report of the old one no longer applies
    layers = layers.filter((l) => l.mediaType !== MEDIA.model && l.mediaType !== MEDIA.quality);
    layers.unshift({ mediaType: MEDIA.model, digest, size: store.blobs.size(digest)! });
    progress({ status: `using existing layer ${digest}` });
  }

  if (mix) {
    const model = layers.find((l) => l.mediaType === MEDIA.model);
    if (!model) throw new KilnError('E_BAD_REQUEST', 'quantize needs a model layer (from or files)');
    const src = store.blobs.path(model.digest);
    const out = store.blobs.tempFile();
    const srcFile = await readGGUFFile(src);
    if (!imatrix) refuseWithoutImatrix(planQuantization(srcFile, mix), mix);
    const ft = summarizeModel(srcFile).fileType;
    const status = `quantizing ${ft} model to ${mix.toUpperCase()}`;
    progress({ status });
    const wantReport = req.report || req.report_text !== undefined;
    const textFile = req.report_text !== undefined ? store.blobs.tempFile() : undefined;
    let report: QualityReport | undefined;
    try {
      if (textFile) writeFileSync(textFile, req.report_text!);
      // the child's quantize events are renamed as Ollama words them; the report's own steps pass as they are
      const relay = (p: ProgressResponse) => progress(p.status.startsWith('quantizing to ') ? { ...p, status } : p);
      const imPath = imatrix ? store.blobs.path(imatrix) : undefined;
      report = await quantizeInChild(src, out, mix, relay, signal, wantReport ? { textFile } : undefined, imPath);
    } catch (e) {
      // the report can fail after the file is made: nothing of this create is left behind
      rmSync(out, { force: true });
      throw e;
    } finally {
      if (textFile) rmSync(textFile, { force: true });
    }
    const blob = await store.blobs.adoptTempFile(out);
    pin(blob.digest);
    const s = summarizeModel(await readGGUFFile(store.blobs.path(blob.digest)));
    config = { ...config, file_type: s.fileType, model_type: formatParameterCount(s.parameterCount) };
    layers = layers.map((l) => (l === model ? { mediaType: MEDIA.model, digest: blob.digest, size: blob.size } : l)).filter((l) => l.mediaType !== MEDIA.quality);
    if (report) {
      const saved = store.blobs.writeBuffer(Buffer.from(JSON.stringify({ ...report, source: sourceName ?? report.source, ...(textFile ? { text: req.report_text_name || 'the text given with the request' } : {}), model: blob.digest })));
      pin(saved.digest);
      layers.push({ mediaType: MEDIA.quality, digest: saved.digest, size: saved.size });
      progress({ status: `creating new layer ${saved.digest}` });
    }
    progress({ status: `creating new layer ${blob.digest}` });
  }

  const replace = (mediaType: string, data: string[] | undefined) => {
    if (data === undefined) return;
    layers = layers.filter((l) => l.mediaType !== mediaType);
    for (const text of data) {
      const blob = store.blobs.writeBuffer(Buffer.from(text, 'utf8'));
      progress({ status: `creating new layer ${blob.digest}` });
      layers.push({ mediaType, digest: blob.digest, size: blob.size });
    }
  };
  replace(MEDIA.template, req.template === undefined ? undefined : [req.template]);
  replace(MEDIA.system, req.system === undefined ? undefined : [req.system]);
  if (req.parameters !== undefined) {
    parameters = { ...parameters, ...req.parameters };
    replace(MEDIA.params, Object.keys(parameters).length ? [JSON.stringify(parameters)] : []);
  }
  if (req.messages !== undefined) {
    replace(MEDIA.messages, req.messages.length ? [JSON.stringify(req.messages)] : []);
  }
  if (req.license !== undefined) replace(MEDIA.license, Array.isArray(req.license) ? req.license : [req.license]);

  // Ollama's layer order: model first, then the text layers in a fixed order.
  // kiln's quality report goes last.
  const rank = (l: Descriptor) => (l.mediaType === MEDIA.model ? -1 : l.mediaType === MEDIA.quality ? TEXT_LAYERS.length : TEXT_LAYERS.indexOf(l.mediaType as never));
  layers.sort((a, b) => rank(a) - rank(b));

  const cfgBytes = Buffer.from(
    JSON.stringify({
      ...config,
      model_format: config.model_format ?? 'gguf',
      architecture: 'amd64',
      os: 'linux',
      rootfs: { type: 'layers', diff_ids: layers.map((l) => l.digest) },
      ...(parent ? { parent_model: parent } : {}),
    }),
  );
  const cfg = store.blobs.writeBuffer(cfgBytes);
  const manifest: Manifest = {
    schemaVersion: 2,
    mediaType: MEDIA.dockerManifest,
    config: { mediaType: MEDIA.config, digest: cfg.digest, size: cfg.size },
    layers,
  };
  progress({ status: 'writing manifest' });
  const { released } = store.models.putManifest(name, manifest);
  store.blobs.removeIfUnreferenced(released);
  progress({ status: 'success' });
}
