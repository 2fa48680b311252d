/**
 * Anthropic's Messages API (POST /v1/messages and /v1/messages/count_tokens),
 * the shapes of the `@anthropic-ai/sdk` package. Re-exported by ./types.ts.
 */

export type AnthropicContentBlock =
  | { type: 'text'; text: string }
  | { type: 'image'; source: { type: 'base64'; media_type: string; data: string } }
  | { type: 'tool_use'; id: string; name: string; input: Record<string, unknown> }
  | { type: 'tool_result'; tool_use_id: string; content: string; is_error?: boolean }
  | { type: 'thinking'; thinking: string; signature?: string }
  | { type: 'redacted_thinking'; data: string };

export interface AnthropicMessage {
  role: 'user' | 'assistant';
  content: string | AnthropicContentBlock[];
}

export interface AnthropicTool {
  name: string;
  description?: string;
  input_schema: Record<string, unknown>;
}

export type AnthropicToolChoice =
  | { type: 'auto'; disable_parallel_tool_use?: boolean }
  | { type: 'any'; disable_parallel_tool_use?: boolean }
  | { type: 'tool'; name: string; disable_parallel_tool_use?: boolean }
  | { type: 'none' };

/** POST /v1/messages/count_tokens — `anthropic.messages.countTokens(...)` */
export interface AnthropicCountTokensRequest {
  model: string;
  messages: AnthropicMessage[];
  /** A string or text blocks, joined. */
  system?: string;
  tools?: AnthropicTool[];
  tool_choice?: AnthropicToolChoice;
  thinking?: { type: 'enabled'; budget_tokens: number } | { type: 'disabled' };
}

/** POST /v1/messages — `anthropic.messages.create(...)` / `.stream(...)` */
export interface AnthropicMessagesRequest extends AnthropicCountTokensRequest {
  max_tokens: number;
  stop_sequences?: string[];
  temperature?: number;
  top_p?: number;
  top_k?: number;
  stream?: boolean;
  metadata?: Record<string, unknown>;
}

export type AnthropicStopReason = 'end_turn' | 'max_tokens' | 'stop_sequence' | 'tool_use';

export interface AnthropicUsage {
  input_tokens: number;
  output_tokens: number;
  cache_creation_input_tokens: number;
  cache_read_input_tokens: number;
}

/** The answer of POST /v1/messages (not streamed). */
export interface AnthropicMessageResponse {
  id: string;
  type: 'message';
  role: 'assistant';
  model: string;
  content: AnthropicContentBlock[];
  stop_reason: AnthropicStopReason | null;
  stop_sequence: string | null;
  usage: AnthropicUsage;
}

export interface AnthropicCountTokensResponse {
  input_tokens: number;
}

/** One server-sent event of a streamed message; `type` is also the SSE event name. */
export type AnthropicStreamEvent = { type: string } & Record<string, unknown>;

/** Errors under /v1/messages: `{type: "error", error: {type, message}}`. */
export interface AnthropicErrorResponse {
  type: 'error';
  error: { type: string; message: string };
}
