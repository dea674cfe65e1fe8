// Whether a request asks for structured output (a JSON answer, possibly to a schema), per wire format.
// Anthropic's Messages API has no such switch in the format the simulator speaks.

export interface JsonMode {
  /** The schema the answer must satisfy; absent: any JSON object. */
  schema?: unknown;
}

type Body = Record<string, unknown>;

const field = (v: unknown, ...names: string[]): unknown => {
  if (typeof v !== 'object' || v === null) return undefined;
  for (const n of names) {
    const x = (v as Body)[n];
    if (x !== undefined && x !== null) return x;
  }
  return undefined;
};

/** OpenAI: chat's `response_format` and Responses' `text.format` share `type`, but not where the schema sits. */
function openai(body: Body): JsonMode | undefined {
  const chat = field(body, 'response_format');
  const resp = field(field(body, 'text'), 'format');
  const format = chat ?? resp;
  const type = field(format, 'type');
  if (type === 'json_object') return {};
  if (type !== 'json_schema') return undefined;
  const schema = chat !== undefined ? field(field(format, 'json_schema'), 'schema') : field(format, 'schema');
  return schema === undefined ? {} : { schema };
}

/** Gemini: the REST API takes camelCase and snake_case field names alike. */
function gemini(body: Body): JsonMode | undefined {
  const cfg = field(body, 'generationConfig', 'generation_config');
  const mime = field(cfg, 'responseMimeType', 'response_mime_type');
  if (typeof mime !== 'string' || mime.split(';')[0].trim().toLowerCase() !== 'application/json')
    return undefined;
  const schema = field(
    cfg,
    'responseJsonSchema',
    'response_json_schema',
    'responseSchema',
    'response_schema',
  );
  return schema === undefined ? {} : { schema };
}

export function jsonModeOf(api: 'openai' | 'anthropic' | 'gemini', body: Body): JsonMode | undefined {
  if (api === 'openai') return openai(body);
  if (api === 'gemini') return gemini(body);
  return undefined;
}
