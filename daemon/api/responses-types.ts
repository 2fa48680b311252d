/**
 * OpenAI's Responses API (POST /v1/responses, GET/DELETE /v1/responses/{id}),
 * the shapes of the `openai` package's `responses` resource. Re-exported by
 * ./types.ts, the one place wire types are imported from.
 */

/** A content part of an input message. */
export interface ResponsesInputPart {
  type: 'input_text' | 'output_text' | 'input_image' | 'refusal';
  text?: string;
  /** input_image: a base64 data: URL. */
  image_url?: string;
}

/** One item of `input` (a string input is one user message). */
export type ResponsesInputItem =
  | { type: 'message'; role: 'user' | 'assistant' | 'system' | 'developer'; content: string | ResponsesInputPart[] }
  | { type: 'function_call'; call_id: string; name: string; arguments: string; id?: string }
  | { type: 'function_call_output'; call_id: string; output: string }
  | { type: 'reasoning'; text: string };

/** A function the model may call (the Responses shape is flat: no `function` wrapper). */
export interface ResponsesFunctionTool {
  type: 'function';
  name: string;
  description?: string | null;
  parameters?: Record<string, unknown> | null;
  strict?: boolean | null;
}

export type ResponsesToolChoice = 'auto' | 'none' | 'required' | { type: 'function'; name: string };

export type ResponsesTextFormat =
  | { type: 'text' }
  | { type: 'json_object' }
  | { type: 'json_schema'; name?: string; schema: Record<string, unknown>; strict?: boolean; description?: string };

/** POST /v1/responses — `openai.responses.create(...)` / `.stream(...)` */
export interface ResponsesRequest {
  model: string;
  input: ResponsesInputItem[];
  instructions?: string;
  tools?: ResponsesFunctionTool[];
  tool_choice?: ResponsesToolChoice;
  parallel_tool_calls?: boolean;
  text?: { format?: ResponsesTextFormat };
  max_output_tokens?: number;
  temperature?: number;
  top_p?: number;
  /** kiln accepts Ollama's extras too: top_k and seed. */
  top_k?: number;
  seed?: number;
  reasoning?: { effort?: 'high' | 'medium' | 'low' | 'none' };
  stream?: boolean;
  /** Keep the response (default true) so GET /v1/responses/{id} and previous_response_id find it. */
  store?: boolean;
  previous_response_id?: string;
  metadata?: Record<string, string>;
}

export interface ResponsesOutputText {
  type: 'output_text';
  text: string;
  annotations: never[];
  logprobs?: never[];
}

export type ResponsesOutputItem =
  | { type: 'message'; id: string; status: ResponsesItemStatus; role: 'assistant'; content: ResponsesOutputText[] }
  | { type: 'function_call'; id: string; call_id: string; name: string; arguments: string; status: ResponsesItemStatus }
  | { type: 'reasoning'; id: string; summary: never[]; content: { type: 'reasoning_text'; text: string }[]; status: ResponsesItemStatus };

export type ResponsesItemStatus = 'in_progress' | 'completed' | 'incomplete';

export interface ResponsesUsage {
  input_tokens: number;
  input_tokens_details: { cached_tokens: number };
  output_tokens: number;
  output_tokens_details: { reasoning_tokens: number };
  total_tokens: number;
}

/** A response object: the answer of POST (not streamed) and GET /v1/responses/{id}, and in stream events. */
export interface ResponsesResponse {
  id: string;
  object: 'response';
  created_at: number;
  status: 'in_progress' | 'completed' | 'incomplete' | 'failed';
  error: { code: string; message: string } | null;
  incomplete_details: { reason: 'max_output_tokens' } | null;
  instructions: string | null;
  max_output_tokens: number | null;
  model: string;
  output: ResponsesOutputItem[];
  parallel_tool_calls: boolean;
  previous_response_id: string | null;
  reasoning: { effort: string | null; summary: null };
  store: boolean;
  temperature: number | null;
  text: { format: ResponsesTextFormat };
  tool_choice: ResponsesToolChoice;
  tools: ResponsesFunctionTool[];
  top_p: number | null;
  truncation: 'disabled';
  usage: ResponsesUsage | null;
  metadata: Record<string, string>;
}

/** One server-sent event of a streamed response; `type` is also the SSE event name. */
export type ResponsesStreamEvent = { type: string; sequence_number: number } & Record<string, unknown>;

/** DELETE /v1/responses/{id} */
export interface ResponsesDeleted {
  id: string;
  object: 'response';
  deleted: true;
}
