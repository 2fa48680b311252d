import { KilnError } from '../../common/errors.js';
import type { GenerateRequest, GenerateResponse } from '../api/types.js';
import { doneReason, formatOf, holdSlot, loadOrUnload, LogprobQueue, logprobsOf, nowIso, prepare, statsFields, type ServeDeps } from './inference.js';
import { rejectImages, renderGeneratePrompt } from './prompt.js';
import { requestName } from './resolve.js';
import { requireCompletion } from './runnable.js';
import { harmonyParserFor, planThinking, thinkingParserFor, type ThinkingPiece } from './thinking.js';

function contextOf(v: unknown, nVocab: number): number[] | undefined {
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v) || v.some((t) => !Number.isInteger(t) || t < 0 || t >= nVocab)) throw new KilnError('E_BAD_REQUEST', `context must be an array of token ids of this model (0..${nVocab - 1})`);
  return v as number[];
}

/**
 * POST /api/generate. Resolves once the request holds a slot (so a missing
 * model, a bad option or a full queue is an HTTP error), then yields
 * Ollama's response objects: one per piece of text, and a last one with
 * done, done_reason, context and the statistics. A thinking model's reasoning
 * comes in `thinking`, apart from `response` (see thinking.ts).
 */
export async function generate(deps: ServeDeps, req: GenerateRequest, signal: AbortSignal): Promise<AsyncGenerator<GenerateResponse>> {
  const name = requestName(req);
  const p = await prepare(deps, name, req);
  requireCompletion(p.model, name, 'generate');
  // Responses name the model as the request did ("kjv", not "kjv:latest"), as Ollama does: clients match on it.
  const model = name;
  const plan = planThinking(p.model, name, req.think);
  rejectImages(p.model, req.images);
  const context = contextOf(req.context, p.model.facts.shape.nVocab);
  const format = formatOf(req.format);
  const logprobs = logprobsOf(req);

  if (!req.prompt && !req.suffix && !context?.length) {
    const reason = await loadOrUnload(deps, p, signal);
    return (async function* () {
      yield { model, created_at: nowIso(), response: '', done: true, done_reason: reason };
    })();
  }

  const prompt = renderGeneratePrompt(p.model, {
    prompt: req.prompt ?? '',
    suffix: req.suffix,
    system: req.system,
    template: req.template,
    raw: req.raw === true,
    continuing: (context?.length ?? 0) > 0,
    think: plan.think,
  });
  // a harmony model's answer is read by channel; /api/generate offers no tools, so a call is content
  const harmony = harmonyParserFor(plan, prompt, { format: format !== undefined, calls: false });
  const thinking = harmony ?? thinkingParserFor(plan, prompt, format !== undefined);
  const { lease, loadDurationNs } = await holdSlot(deps, p, signal);
  const piece = ({ thinking, content }: ThinkingPiece): GenerateResponse => ({
    model,
    created_at: nowIso(),
    response: content,
    ...(thinking ? { thinking } : {}),
    done: false,
    ...lps.take(),
  });
  const lps = new LogprobQueue(logprobs !== undefined);
  return (async function* () {
    const it = lease.runner.generate(lease.slot, { prompt, context, options: p.options.sampling, format, logprobs, shift: req.shift !== false }, signal);
    try {
      for (;;) {
        const r = await it.next();
        if (r.done) {
          const rest = thinking?.finish();
          if (rest && (rest.thinking || rest.content)) yield piece(rest);
          yield {
            model,
            created_at: nowIso(),
            response: '',
            done: true,
            done_reason: doneReason(r.value),
            context: r.value.context,
            ...statsFields(deps, p, loadDurationNs, r.value),
            ...lps.take(),
          };
          return;
        }
        lps.add(r.value.logprobs);
        if (!r.value.text) continue;
        const split = thinking ? thinking.push(r.value.text) : { thinking: '', content: r.value.text };
        if (split.thinking || split.content) yield piece(split);
      }
    } finally {
      // A consumer that stops early (a client gone) closes this generator at a yield: close the
      // runner's stream too, or its pending entry and handlers stay behind for good.
      await it.return(undefined as never).catch(() => {});
      lease.release();
    }
  })();
}

/** The non-streaming answer: the whole text (and reasoning, if any) in the final object. */
export function mergeGenerate(lines: GenerateResponse[]): GenerateResponse {
  const last = lines.at(-1);
  if (!last) throw new KilnError('E_RUNNER', 'the generation ended without a result');
  const thinking = lines.map((l) => l.thinking ?? '').join('');
  const logprobs = lines.some((l) => l.logprobs) ? lines.flatMap((l) => l.logprobs ?? []) : undefined;
  return { ...last, response: lines.map((l) => l.response).join(''), ...(thinking ? { thinking } : {}), ...(logprobs ? { logprobs } : {}) };
}
