import { KilnError } from '../../common/errors.js';
import type { OpenAIResponseFormat, Options } from '../api/types.js';

interface OpenAISampling {
  temperature?: number | null;
  top_p?: number | null;
  seed?: number | null;
  stop?: string | string[] | null;
  frequency_penalty?: number | null;
  presence_penalty?: number | null;
}

/** OpenAI's sampling fields as native options (null means unset, as the client sends it). */
export function samplingFromOpenAI(req: OpenAISampling, maxTokens: number | null | undefined): Options {
  const o: Options = {};
  if (req.temperature != null) o.temperature = req.temperature;
  if (req.top_p != null) o.top_p = req.top_p;
  if (req.seed != null) o.seed = req.seed;
  if (req.frequency_penalty != null) o.frequency_penalty = req.frequency_penalty;
  if (req.presence_penalty != null) o.presence_penalty = req.presence_penalty;
  if (req.stop != null) o.stop = typeof req.stop === 'string' ? [req.stop] : req.stop;
  if (maxTokens != null) o.num_predict = maxTokens;
  return o;
}

/** response_format → native `format`: json_object is "json", json_schema its schema. */
export function formatFromResponseFormat(rf: OpenAIResponseFormat | undefined): string | Record<string, unknown> | undefined {
  if (!rf || rf.type === 'text') return undefined;
  if (rf.type === 'json_object') return 'json';
  if (rf.type === 'json_schema') {
    if (!rf.json_schema?.schema || typeof rf.json_schema.schema !== 'object') throw new KilnError('E_BAD_REQUEST', 'response_format.json_schema.schema is required');
    return rf.json_schema.schema;
  }
  throw new KilnError('E_BAD_REQUEST', `response_format type '${(rf as { type: string }).type}' is not supported`);
}
