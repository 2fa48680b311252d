import type { FitResponse, ListResponse, PsResponse, ShowResponse } from '../../daemon/api/types.js';
import { ApiError, type Client } from '../client.js';
import { humanBytes, humanDuration, humanTime, table } from '../format.js';
import { qualityTable } from './quality.js';
import { KilnError } from '../../common/errors.js';

/** `kiln list [PREFIX]`: NAME, ID, SIZE, MODIFIED, as `ollama list` prints them. */
export async function listCommand(client: Client, prefix?: string): Promise<string> {
  const { models } = await client.json<ListResponse>('GET', '/api/tags');
  const p = prefix?.toLowerCase();
  const rows = models
    .filter((m) => !p || m.name.toLowerCase().startsWith(p))
    .map((m) => [m.name, m.digest.slice(0, 12), humanBytes(m.size), humanTime(new Date(m.modified_at))]);
  return table(['NAME', 'ID', 'SIZE', 'MODIFIED'], rows);
}

/** `kiln ps`: NAME, ID, SIZE, PROCESSOR, CONTEXT, UNTIL. */
export async function psCommand(client: Client): Promise<string> {
  const { models } = await client.json<PsResponse>('GET', '/api/ps');
  const rows = models.map((m) => {
    const cpu = m.size > 0 ? Math.round(((m.size - m.size_vram) / m.size) * 100) : 100;
    const processor = m.size_vram === 0 ? '100% CPU' : cpu === 0 ? '100% GPU' : `${cpu}%/${100 - cpu}% CPU/GPU`;
    const until = new Date(m.expires_at);
    const left = (until.getTime() - Date.now()) / 1000;
    const untilText = until.getFullYear() > 2200 ? 'Forever' : left <= 0 ? 'Stopping...' : `${humanDuration(left)} from now`;
    return [m.name, m.digest.slice(0, 12), humanBytes(m.size), processor, String(m.context_length), untilText];
  });
  return table(['NAME', 'ID', 'SIZE', 'PROCESSOR', 'CONTEXT', 'UNTIL'], rows);
}

export type ShowPart = 'modelfile' | 'template' | 'parameters' | 'system' | 'license';

function section(title: string, rows: [string, string][]): string {
  if (!rows.length) return '';
  const w = Math.max(...rows.map(([k]) => k.length));
  return `  ${title}\n${rows.map(([k, v]) => `    ${k.padEnd(w)}    ${v}`).join('\n')}\n`;
}

/** `kiln show NAME [--modelfile|--template|--parameters|--system|--license]`. */
export async function showCommand(client: Client, name: string, part?: ShowPart): Promise<string> {
  const s = await client.json<ShowResponse>('POST', '/api/show', { model: name });
  if (part) return (s[part] ?? '').replace(/\n$/, '');
  const info = s.model_info as Record<string, unknown>;
  const arch = String(info['general.architecture'] ?? s.details.family ?? '');
  const model: [string, string][] = [['architecture', arch]];
  model.push(['parameters', s.details.parameter_size]);
  if (info[`${arch}.context_length`] !== undefined) model.push(['context length', String(info[`${arch}.context_length`])]);
  if (info[`${arch}.embedding_length`] !== undefined) model.push(['embedding length', String(info[`${arch}.embedding_length`])]);
  model.push(['quantization', s.details.quantization_level]);
  // Which language the template (`kiln show MODEL --template`) is in.
  if (s.template_kind) model.push(['template', s.template_kind === 'jinja' ? 'Jinja (the GGUF chat template)' : 'Go (Ollama template)']);
  const params: [string, string][] = (s.parameters ?? '')
    .split('\n')
    .filter(Boolean)
    .map((l) => {
      const m = /^(\S+)\s+(.*)$/.exec(l);
      return m ? [m[1], m[2]] : [l, ''];
    });
  const caps: [string, string][] = s.capabilities.map((c) => [c, '']);
  const out = [section('Model', model), section('Capabilities', caps)];
  if (s.vision) out.push(section('Projector', [['vision', s.vision]]));
  out.push(section('Parameters', params));
  if (s.system) out.push(section('System', [[s.system.split('\n')[0], '']]));
  if (s.license) out.push(section('License', s.license.split('\n').filter(Boolean).slice(0, 2).map((l) => [l, ''] as [string, string])));
  return out.filter(Boolean).join('\n').replace(/\s+$/, '');
}

/** `kiln show NAME --fit [--num-ctx N] [--num-parallel N] [--num-gpu N] [--json]`: the memory plan (POST /api/fit). */
export async function showFitCommand(
  client: Client,
  name: string,
  opts: { num_ctx?: number; num_parallel?: number; num_gpu?: number; registry?: boolean; insecure?: boolean },
  json = false,
): Promise<string> {
  const body = Object.fromEntries(Object.entries({ model: name, ...opts }).filter(([, v]) => v !== undefined));
  const f = await client.json<FitResponse>('POST', '/api/fit', body);
  if (json) return JSON.stringify(f, null, 2);
  const yes = (b: boolean) => (b ? 'yes' : 'no');
  const plan: [string, string][] = [
    ['context', String(f.num_ctx)],
    ['parallel', String(f.num_parallel)],
    ['kv cache', f.kv_cache_type],
    ['processor', f.processor],
    ['fits', yes(f.fits)],
  ];
  const ram: [string, string][] = [
    ['weights', humanBytes(f.ram.weights)],
    ...(f.ram.offloaded > 0 ? [['offloaded', `${humanBytes(f.ram.offloaded)} (on the GPU, not kept in RAM)`] as [string, string]] : []),
    ['kv cache', humanBytes(f.ram.kv_cache)],
    ['compute', humanBytes(f.ram.compute)],
    ['total', humanBytes(f.ram.total)],
    ['reserved', `${humanBytes(f.ram.scheduler)} (the scheduler's estimate)`],
    ['available', humanBytes(f.ram.available)],
    ['fits', yes(f.ram.fits)],
  ];
  const out = [section('Plan', plan), section('RAM', ram)];
  if (f.gpu) {
    const g = f.gpu;
    out.push(
      section(`GPU ${g.index}: ${g.name}`, [
        ['layers', `${g.layers}/${g.total_layers}${g.output ? ' and the output' : ''}`],
        ['weights', humanBytes(g.weights)],
        ['output', g.output ? humanBytes(g.output_weights) : `on the CPU (${humanBytes(g.output_weights)})`],
        ['kv cache', humanBytes(g.kv_cache)],
        ['reserve', humanBytes(g.reserve)],
        ['total', humanBytes(g.total)],
        ['memory', humanBytes(g.memory)],
        ['fits', yes(g.fits)],
      ]),
    );
  }
  if (f.gpu_reason) out.push(section('GPU', [['none', f.gpu_reason]]));
  const layers = table(
    ['LAYER', 'WEIGHTS', 'KV CACHE', 'DEVICE'],
    f.layers.map((l) => [String(l.index), humanBytes(l.weights), humanBytes(l.kv_cache), l.device.toUpperCase()]),
  );
  const variants = table(
    ['QUANTIZATION', 'MODEL', 'SOURCE', 'SIZE', 'RAM', 'VRAM', 'GPU LAYERS', 'FITS'],
    f.variants.map((v) =>
      v.error !== undefined
        ? ['?', v.model, v.source, '', '', '', '', v.error]
        : [v.quantization ?? '?', v.model, v.source, humanBytes(v.size ?? 0), humanBytes(v.ram ?? 0), humanBytes(v.vram ?? 0), `${v.gpu_layers}/${v.total_layers}`, yes(v.fits === true)],
    ),
  );
  const registry = f.registry_error ? `\nregistry: ${f.registry_error}` : '';
  return `${out.filter(Boolean).join('\n')}\n${layers}\n\n${variants}${registry}`.replace(/\s+$/, '');
}

/** `kiln show NAME --quality`: the quality report saved with the model, as a table. */
export async function showQualityCommand(client: Client, name: string): Promise<string> {
  const s = await client.json<ShowResponse>('POST', '/api/show', { model: name });
  if (!s.quality) {
    throw new KilnError('E_NOT_FOUND', `${name} has no quality report: make one with kiln create ${name} -f Modelfile --quantize TYPE --report`);
  }
  return qualityTable(s.quality);
}

/**
 * `kiln rm NAME...`: each model in turn, `deleted 'NAME'` for each one removed;
 * a name the daemon refuses (not found) is reported and the rest still go.
 * Returns true when any name failed.
 */
export async function rmCommand(client: Client, names: string[], out: (line: string) => void, err: (line: string) => void): Promise<boolean> {
  let failed = false;
  for (const n of names) {
    try {
      await client.json('DELETE', '/api/delete', { model: n });
      out(`deleted '${n}'`);
    } catch (e) {
      if (!(e instanceof ApiError)) throw e;
      err(`Error: ${e.message}`);
      failed = true;
    }
  }
  return failed;
}

/** `kiln cp SRC DST` */
export async function cpCommand(client: Client, src: string, dst: string): Promise<string> {
  await client.json('POST', '/api/copy', { source: src, destination: dst });
  return `copied '${src}' to '${dst}'`;
}
