/**
 * The values Ollama hands its templates, rebuilt as Go-like values so they
 * print and JSON-encode the way the published templates expect:
 *
 * - `.Messages` are structs {Role Content Thinking Images ToolCalls ToolName ToolCallID}.
 * - A tool call is {ID Function{Index Name Arguments}}; `.Function.Arguments`
 *   prints as compact JSON with sorted keys (`{{ .Function.Arguments }}`).
 * - `.Tools` prints as a JSON array (`{{ $.Tools }}`, Mistral); each tool and its
 *   `.Function` print as JSON objects (`{{ . }}` in Llama 3.1, `{{ .Function }}`
 *   in Qwen 2.5), fields in Ollama's order: type, items?, function{name,
 *   description, parameters{type, $defs?, items?, required?, properties}}.
 * - `.Function.Parameters.Properties` is a map (ranged in sorted order) of
 *   {AnyOf Type Items Description Enum Properties}; `.Type` prints "string"
 *   for a single type.
 * JSON is Go's: HTML-safe escaping of <, > and &, map keys sorted.
 */
import { goJSON, makeStruct, withMethods, type GoStruct, type StructType } from './values.js';

/** A tool call as the Ollama chat API carries it. */
export interface ToolCall {
  id?: string;
  function: { index?: number; name: string; arguments?: Record<string, unknown> };
}

/** A chat message as the Ollama chat API carries it. */
export interface ChatMessage {
  role: string;
  content: string;
  thinking?: string;
  images?: string[];
  tool_calls?: ToolCall[];
  tool_name?: string;
  tool_call_id?: string;
}

/** One JSON-schema property of a tool's parameters. */
export interface ToolProperty {
  type?: string | string[];
  description?: string;
  enum?: unknown[];
  items?: unknown;
  anyOf?: ToolProperty[];
  properties?: Record<string, ToolProperty>;
}

/** A tool offered to the model, as the Ollama (and OpenAI) chat API carries it. */
export interface Tool {
  type: string;
  items?: unknown;
  function: {
    name: string;
    description?: string;
    parameters?: {
      type?: string;
      $defs?: unknown;
      items?: unknown;
      required?: string[];
      properties?: Record<string, ToolProperty>;
    };
  };
}

const jsonString = (v: GoStruct) => goJSON(v);

const MESSAGE: StructType = {
  name: 'template.templateMessage',
  fields: ['Role', 'Content', 'Thinking', 'Images', 'ToolCalls', 'ToolName', 'ToolCallID'].map((name) => ({ name })),
};
const TOOL_CALL: StructType = { name: 'template.templateToolCall', fields: [{ name: 'ID' }, { name: 'Function' }] };
const TOOL_CALL_FUNCTION: StructType = {
  name: 'template.templateToolCallFunction',
  fields: [{ name: 'Index' }, { name: 'Name' }, { name: 'Arguments' }],
};
const TOOL: StructType = {
  name: 'template.templateTool',
  fields: [
    { name: 'Type', json: 'type' },
    { name: 'Items', json: 'items', omitEmpty: true },
    { name: 'Function', json: 'function' },
  ],
  string: jsonString,
};
const TOOL_FUNCTION: StructType = {
  name: 'template.templateToolFunction',
  fields: [
    { name: 'Name', json: 'name' },
    { name: 'Description', json: 'description' },
    { name: 'Parameters', json: 'parameters' },
  ],
  string: jsonString,
};
const TOOL_PARAMETERS: StructType = {
  name: 'template.templateToolFunctionParameters',
  fields: [
    { name: 'Type', json: 'type' },
    { name: 'Defs', json: '$defs', omitEmpty: true },
    { name: 'Items', json: 'items', omitEmpty: true },
    { name: 'Required', json: 'required', omitEmpty: true },
    { name: 'Properties', json: 'properties' },
  ],
};
const TOOL_PROPERTY: StructType = {
  name: 'api.ToolProperty',
  fields: [
    { name: 'AnyOf', json: 'anyOf', omitEmpty: true },
    { name: 'Type', json: 'type', omitEmpty: true },
    { name: 'Items', json: 'items', omitEmpty: true },
    { name: 'Description', json: 'description', omitEmpty: true },
    { name: 'Enum', json: 'enum', omitEmpty: true },
    { name: 'Properties', json: 'properties', omitEmpty: true },
  ],
};

/**
 * A map that prints as its JSON (Ollama's templateArgs / templateProperties).
 * Absent, it is Go's nil map: empty, prints "{}", encodes as null.
 */
function jsonMap<T>(entries: Record<string, T> | undefined): Record<string, T> {
  const m: Record<string, T> = Object.assign(Object.create(null), entries ?? {});
  if (entries === undefined) return withMethods(m, { string: () => '{}', marshalJSON: () => 'null' });
  return withMethods(m, { string: () => goJSON(m) });
}

/** api.PropertyType: a list of JSON-schema types that prints and encodes as a bare string when it has one. */
function propertyType(t: string | string[] | undefined): string[] | undefined {
  if (t === undefined) return undefined;
  const list = Array.isArray(t) ? [...t] : [t];
  return withMethods(list, {
    string: () => (list.length === 1 ? list[0] : `[${list.join(' ')}]`),
    marshalJSON: () => (list.length === 1 ? goJSON(list[0]) : goJSON([...list])),
  });
}

function toolProperty(p: ToolProperty): GoStruct {
  return makeStruct(TOOL_PROPERTY, {
    AnyOf: p.anyOf?.map(toolProperty),
    Type: propertyType(p.type),
    Items: p.items,
    Description: p.description ?? '',
    Enum: p.enum,
    Properties: p.properties ? mapValues(p.properties, toolProperty) : undefined,
  });
}

function mapValues<T, U>(m: Record<string, T>, f: (v: T) => U): Record<string, U> {
  return Object.fromEntries(Object.entries(m).map(([k, v]) => [k, f(v)]));
}

export function toTemplateTools(tools: Tool[] | undefined): unknown[] {
  const list = (tools ?? []).map((t) => {
    const params = t.function.parameters ?? {};
    const fn = makeStruct(TOOL_FUNCTION, {
      Name: t.function.name,
      Description: t.function.description ?? '',
      Parameters: makeStruct(TOOL_PARAMETERS, {
        Type: params.type ?? '',
        Defs: params.$defs,
        Items: params.items,
        Required: params.required,
        Properties: jsonMap(params.properties && mapValues(params.properties, toolProperty)),
      }),
    });
    return makeStruct(TOOL, { Type: t.type, Items: t.items, Function: fn });
  });
  // A request without tools is a nil slice in Ollama: it prints and encodes as null.
  return withMethods(list, { string: () => (tools === undefined ? 'null' : goJSON(list)) });
}

export function toTemplateMessage(m: ChatMessage): GoStruct {
  const toolCalls = (m.tool_calls ?? []).map((tc) =>
    makeStruct(TOOL_CALL, {
      ID: tc.id ?? '',
      Function: makeStruct(TOOL_CALL_FUNCTION, {
        Index: tc.function.index ?? 0,
        Name: tc.function.name,
        Arguments: jsonMap(tc.function.arguments),
      }),
    }),
  );
  return makeStruct(MESSAGE, {
    Role: m.role,
    Content: m.content,
    Thinking: m.thinking ?? '',
    Images: m.images ?? [],
    ToolCalls: toolCalls,
    ToolName: m.tool_name ?? '',
    ToolCallID: m.tool_call_id ?? '',
  });
}
