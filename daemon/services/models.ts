import { readFileSync } from 'node:fs';
import { readGGUFFile, type GGUFFile } from '../../engine/gguf/reader.js';
import { kvString, modelInfo } from '../../engine/gguf/metadata.js';
import { MEDIA, type Descriptor } from '../../common/manifest.js';
import { parseModelName } from '../../common/model-name.js';
import { formatModelfile, parametersToText } from '../modelfile.js';
import type { ListResponse, Message, QualityReport, ShowResponse } from '../api/types.js';
import type { ModelRecord, Store } from '../../store/index.js';
import { detailsOf, readModelConfig } from './model-config.js';
import { templateCapabilities, templateInUse } from './prompt.js';
import { findModel } from './resolve.js';
import { isEncoderArch } from '../../engine/model/bert.js';

function hex(d: string): string {
  return d.replace(/^sha256:/, '');
}

/** GET /api/tags */
export function listModels(store: Store): ListResponse {
  return {
    models: store.models.list().map((m) => ({
      name: m.name,
      model: m.name,
      modified_at: m.modifiedAt.toISOString(),
      size: m.size,
      digest: hex(m.digest),
      details: detailsOf(readModelConfig(store.blobs, m.manifest.config.digest)),
    })),
  };
}

/** The text layers of a model: template, system, license, params and messages. */
export interface ModelLayers {
  model?: Descriptor;
  /** A vision projector layer (kiln does not load one yet). */
  projector?: Descriptor;
  template?: string;
  system?: string;
  license: string[];
  parameters: Record<string, unknown>;
  messages: Message[];
  /** kiln's quality report (`create --quantize TYPE --report`), when it measured this model layer. */
  quality?: QualityReport;
}

export function readLayers(store: Store, record: ModelRecord): ModelLayers {
  const out: ModelLayers = { license: [], parameters: {}, messages: [] };
  const text = (d: Descriptor) => readFileSync(store.blobs.path(d.digest), 'utf8');
  for (const l of record.manifest.layers) {
    switch (l.mediaType) {
      case MEDIA.model:
        out.model ??= l;
        break;
      case MEDIA.projector:
        out.projector ??= l;
        break;
      case MEDIA.template:
        out.template = text(l);
        break;
      case MEDIA.system:
        out.system = text(l);
        break;
      case MEDIA.license:
        out.license.push(text(l));
        break;
      case MEDIA.params: {
        const v = JSON.parse(text(l));
        if (v && typeof v === 'object' && !Array.isArray(v)) out.parameters = v;
        break;
      }
      case MEDIA.messages: {
        const v = JSON.parse(text(l));
        if (Array.isArray(v)) out.messages = v;
        break;
      }
      case MEDIA.quality: {
        // a report that does not parse, or measured another model layer, is not shown
        try {
          const v = JSON.parse(text(l)) as QualityReport;
          if (v && typeof v === 'object' && Array.isArray(v.rows)) out.quality = v;
        } catch {
          /* ignored */
        }
        break;
      }
    }
  }
  if (out.quality && out.quality.model !== out.model?.digest) out.quality = undefined;
  return out;
}

/** POST /api/show */
export async function showModel(store: Store, typed: string, verbose = false): Promise<ShowResponse> {
  const { name, record } = findModel(store, typed);
  const layers = readLayers(store, record);
  const cfg = readModelConfig(store.blobs, record.manifest.config.digest);
  let info: Record<string, unknown> = {};
  let chatTemplate: string | undefined;
  let embeddedVision = false;
  let embedding = false;
  if (layers.model) {
    const gguf = await readGGUFFile(store.blobs.path(layers.model.digest));
    embedding = isEncoderArch(kvString(gguf, 'general.architecture') ?? '');
    info = modelInfo(gguf, verbose);
    chatTemplate = kvString(gguf, 'tokenizer.chat_template');
    embeddedVision = hasVisionTower(gguf);
  }
  const res: ShowResponse = {
    modelfile: formatModelfile(
      {
        from: layers.model ? store.blobs.path(layers.model.digest) : name.display,
        adapters: [],
        template: layers.template,
        system: layers.system,
        parameters: layers.parameters as never,
        license: layers.license,
        messages: layers.messages,
      },
      name.display,
    ),
    details: detailsOf(cfg),
    model_info: info,
    // an embedding-only model (an encoder) has Ollama's "embedding" capability and no "completion"
    capabilities: embedding ? ['embedding'] : templateCapabilities(layers.template, chatTemplate),
    modified_at: record.modifiedAt.toISOString(),
  };
  if (layers.projector || embeddedVision) {
    // Ollama's projector_info: the projector's own metadata (a separate layer), or none when it is inside the model file
    res.projector_info = layers.projector ? modelInfo(await readGGUFFile(store.blobs.path(layers.projector.digest)), verbose) : {};
    res.vision = `${layers.projector ? 'a projector layer' : 'vision tensors in the model file'}, not loaded: kiln runs this model as text`;
  }
  if (Object.keys(layers.parameters).length) res.parameters = parametersToText(layers.parameters as never);
  // The template prompts actually go through, and its language: a GGUF's Jinja chat template is
  // shown too (the modelfile keeps only a TEMPLATE layer, since FROM that modelfile reads Go).
  const t = templateInUse(layers.template, chatTemplate);
  res.template = t.text;
  res.template_kind = t.kind;
  if (layers.system !== undefined) res.system = layers.system;
  if (layers.license.length) res.license = layers.license.join('\n');
  if (layers.messages.length) res.messages = layers.messages;
  if (layers.quality) res.quality = layers.quality;
  return res;
}

/**
 * Whether a model file carries its own vision tower (as Ollama's gemma3 and
 * mistral3 files do): tensors of the vision encoder (`v.`) or the multimodal
 * projector (`mm.`). kiln runs such a model as text.
 */
export function hasVisionTower(file: GGUFFile): boolean {
  return file.tensors.some((t) => t.name.startsWith('v.') || t.name.startsWith('mm.'));
}

/** DELETE /api/delete */
export function deleteModel(store: Store, typed: string): void {
  const { name } = findModel(store, typed);
  store.models.delete(name, typed);
}

/** POST /api/copy */
export function copyModel(store: Store, source: string, destination: string): void {
  const dst = parseModelName(destination);
  const { name } = findModel(store, source);
  store.models.copy(name, dst, source);
}
