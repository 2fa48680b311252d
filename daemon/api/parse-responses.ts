/**
 * The edge of POST /v1/responses: the body parsed into ResponsesRequest, the
 * same way (and with the same 400s) as the rest of api/parse.ts.
 */
import { drop, Fields, fieldsOf, invalid, isObj, kind, objectAt } from './parse.js';
import type { ResponsesFunctionTool, ResponsesInputItem, ResponsesInputPart, ResponsesRequest, ResponsesTextFormat, ResponsesToolChoice } from './types.js';

const ROLES = ['user', 'assistant', 'system', 'developer'];
const EFFORTS = ['high', 'medium', 'low', 'minimal', 'none'];

function inputPart(v: unknown, at: string): ResponsesInputPart {
  const f = new Fields(objectAt(v, at), at);
  const type = f.requiredStr('type');
  if (type === 'input_text' || type === 'output_text') return { type, text: f.str('text') ?? '' };
  if (type === 'refusal') return { type: 'output_text', text: f.str('refusal') ?? '' };
  if (type === 'input_image') {
    const url = f.str('image_url');
    if (!url) throw invalid(f.path('image_url'), 'is required (a base64 data: URL; file ids are not supported)');
    return { type, image_url: url };
  }
  throw invalid(f.path('type'), `content part type '${type}' is not supported (input_text, output_text, input_image)`);
}

/** Text of `output` / reasoning parts: a string, or parts whose `text` is joined. */
function textOf(f: Fields, k: string): string {
  const v = f.o[k];
  if (typeof v === 'string') return v;
  const parts = f.list(k, (p, at) => new Fields(objectAt(p, at), at).str('text') ?? '');
  return (parts ?? []).join('');
}

function inputItem(v: unknown, at: string): ResponsesInputItem {
  const f = new Fields(objectAt(v, at), at);
  const type = f.str('type') ?? (f.has('role') ? 'message' : undefined);
  if (type === undefined) throw invalid(f.path('type'), 'is required');
  switch (type) {
    case 'message': {
      const role = f.requiredStr('role');
      if (!ROLES.includes(role)) throw invalid(f.path('role'), `must be one of ${ROLES.join(', ')}`);
      const content = typeof f.o.content === 'string' ? f.o.content : f.list('content', inputPart);
      if (content === undefined) throw invalid(f.path('content'), 'is required');
      return { type, role: role as 'user', content };
    }
    case 'function_call': {
      const args = isObj(f.o.arguments) ? JSON.stringify(f.o.arguments) : f.str('arguments') ?? '';
      return drop({ type, call_id: f.requiredStr('call_id'), name: f.requiredStr('name'), arguments: args, id: f.str('id') });
    }
    case 'function_call_output':
      if (!f.has('output')) throw invalid(f.path('output'), 'is required');
      return { type, call_id: f.requiredStr('call_id'), output: textOf(f, 'output') };
    case 'reasoning':
      return { type, text: f.has('content') ? textOf(f, 'content') : f.has('summary') ? textOf(f, 'summary') : '' };
    default:
      throw invalid(f.path('type'), `input item type '${type}' is not supported (message, function_call, function_call_output, reasoning)`);
  }
}

function responsesTool(v: unknown, at: string): ResponsesFunctionTool {
  const f = new Fields(objectAt(v, at), at);
  const type = f.requiredStr('type');
  if (type !== 'function') throw invalid(f.path('type'), `only function tools are supported, got '${type}'`);
  const params = f.fields('parameters');
  if (params) {
    params.str('type');
    params.strList('required');
    params.obj('properties');
  }
  return drop({ type, name: f.requiredStr('name'), description: f.str('description'), parameters: params?.o, strict: f.bool('strict') });
}

function toolChoice(f: Fields): ResponsesToolChoice | undefined {
  const v = f.o.tool_choice;
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'string') {
    if (v === 'auto' || v === 'none' || v === 'required') return v;
    throw invalid('tool_choice', `must be "auto", "none", "required" or {"type": "function", "name": ...}, got '${v}'`);
  }
  const c = f.fields('tool_choice')!;
  const type = c.requiredStr('type');
  if (type !== 'function') throw invalid(c.path('type'), `only function tool choices are supported, got '${type}'`);
  return { type, name: c.requiredStr('name') };
}

function textFormat(f: Fields): ResponsesTextFormat | undefined {
  const fmt = f.fields('text')?.fields('format');
  if (!fmt) return undefined;
  const type = fmt.requiredStr('type');
  if (type === 'text' || type === 'json_object') return { type };
  if (type !== 'json_schema') throw invalid(fmt.path('type'), `'${type}' is not supported: use text, json_object or json_schema`);
  const schema = fmt.obj('schema');
  if (!schema) throw invalid(fmt.path('schema'), 'is required');
  return drop({ type: 'json_schema' as const, name: fmt.str('name'), schema, strict: fmt.bool('strict'), description: fmt.str('description') });
}

export function parseResponses(body: unknown): ResponsesRequest {
  const f = fieldsOf(body);
  const model = f.requiredStr('model');
  let input: ResponsesInputItem[];
  if (typeof f.o.input === 'string') input = [{ type: 'message', role: 'user', content: f.o.input }];
  else if (f.has('input')) input = f.list('input', inputItem)!;
  else throw invalid('input', `is required (a string or an array of input items), got ${kind(f.o.input)}`);
  const reasoning = f.fields('reasoning');
  const effort = reasoning?.str('effort');
  if (effort !== undefined && !EFFORTS.includes(effort)) throw invalid(reasoning!.path('effort'), `invalid reasoning value: '${effort}' (must be "high", "medium", "low", "minimal" or "none")`);
  const metadata = f.strMap('metadata');
  const format = textFormat(f);
  return drop({
    model,
    input,
    instructions: f.str('instructions'),
    tools: f.list('tools', responsesTool),
    tool_choice: toolChoice(f),
    parallel_tool_calls: f.bool('parallel_tool_calls'),
    text: format ? { format } : undefined,
    max_output_tokens: f.int('max_output_tokens', 1),
    temperature: f.num('temperature'),
    top_p: f.num('top_p'),
    top_k: f.int('top_k'),
    seed: f.int('seed'),
    reasoning: effort !== undefined ? { effort: (effort === 'minimal' ? 'low' : effort) as 'low' } : undefined,
    stream: f.bool('stream'),
    store: f.bool('store'),
    previous_response_id: f.str('previous_response_id'),
    metadata,
  });
}
