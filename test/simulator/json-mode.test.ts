// Structured output: a request asking for JSON (Gemini responseMimeType, OpenAI response_format and
// text.format) gets a JSON text that parses and fits its schema, read back by the official SDKs where
// they exist and as raw bytes where they do not (Gemini's JSON-array stream, snake_case fields).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { type GenerateContentResponse, type Schema, Type } from '@google/genai';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import { instanceOf } from '../../src/simulator/schema-instance.ts';
import { wordSource } from '../../src/simulator/text.ts';
import { simulatorClients } from './sdk-clients.ts';

const addFormats = addFormatsModule as unknown as (ajv: Ajv2020) => Ajv2020;
const ajv = addFormats(new Ajv2020({ strict: false }));

function assertValid(schema: object, value: unknown): void {
  const validate = ajv.compile(schema);
  assert.ok(validate(value), `${JSON.stringify(validate.errors)} for ${JSON.stringify(value)}`);
}

/** Exercises every keyword the generator handles; every property is expected in the answer. */
const RICH = {
  type: 'object',
  $defs: {
    tag: {
      type: 'object',
      properties: {
        key: { type: 'string', minLength: 25 },
        weight: { type: 'number', exclusiveMinimum: 0, maximum: 0.5 },
      },
      required: ['key'],
      additionalProperties: false,
    },
  },
  definitions: { level: { enum: ['low', 'high'] } },
  properties: {
    title: { type: 'string', maxLength: 5 },
    when: { type: 'string', format: 'date-time' },
    count: { type: 'integer', minimum: 10, maximum: 20 },
    below: { type: 'number', exclusiveMaximum: 0 },
    fourth: { type: 'integer', multipleOf: 4, minimum: 5 },
    ok: { type: 'boolean' },
    kind: { const: 'fixed' },
    level: { $ref: '#/definitions/level' },
    tags: { type: 'array', items: { $ref: '#/$defs/tag' }, minItems: 2 },
    maybe: { type: ['null', 'string'] },
    choice: { anyOf: [{ type: 'integer' }, { type: 'string' }] },
    one: { oneOf: [{ type: 'boolean' }, { type: 'string' }] },
    pair: {
      type: 'array',
      prefixItems: [{ type: 'string' }, { type: 'integer' }],
      items: false,
      minItems: 2,
    },
    merged: {
      allOf: [
        { type: 'object', properties: { a: { type: 'string' } }, required: ['a'] },
        { properties: { b: { type: 'integer', minimum: 3 } }, required: ['b'] },
      ],
      unevaluatedProperties: false,
    },
    anything: {},
    optional: { type: 'string', description: 'not required, still written' },
  },
  required: ['title', 'count'],
  additionalProperties: false,
} as const;

/** A tree: each node's children are nodes again. */
const TREE = {
  type: 'object',
  properties: {
    name: { type: 'string' },
    children: { type: 'array', items: { $ref: '#' } },
    parent: { anyOf: [{ $ref: '#' }, { type: 'null' }] },
  },
  required: ['name', 'children', 'parent'],
  additionalProperties: false,
} as const;

/** What Gemini CLI's router asks for, in Gemini's own upper-case Schema. */
const ROUTER: Schema = {
  type: Type.OBJECT,
  properties: {
    reasoning: { type: Type.STRING },
    model_choice: { type: Type.STRING, enum: ['flash', 'pro'] },
  },
  required: ['reasoning', 'model_choice'],
};

/** Gemini's upper-case schema checked by hand: ajv knows only JSON Schema's type names. */
function checkGemini(schema: Schema, value: unknown, at = '$'): void {
  const t = schema.type;
  if (schema.enum) assert.ok(schema.enum.includes(value as string), `${at}: ${value} not in enum`);
  if (t === Type.OBJECT) {
    assert.ok(typeof value === 'object' && value !== null && !Array.isArray(value), `${at}: an object`);
    const obj = value as Record<string, unknown>;
    assert.deepEqual(Object.keys(obj).sort(), Object.keys(schema.properties ?? {}).sort(), `${at}: keys`);
    for (const [k, sub] of Object.entries(schema.properties ?? {})) checkGemini(sub, obj[k], `${at}.${k}`);
  } else if (t === Type.ARRAY) {
    assert.ok(Array.isArray(value), `${at}: an array`);
    for (const [i, v] of value.entries()) checkGemini(schema.items ?? {}, v, `${at}[${i}]`);
  } else if (t === Type.STRING) assert.equal(typeof value, 'string', at);
  else if (t === Type.INTEGER) assert.ok(Number.isInteger(value), `${at}: an integer`);
  else if (t === Type.NUMBER) assert.equal(typeof value, 'number', at);
  else if (t === Type.BOOLEAN) assert.equal(typeof value, 'boolean', at);
}

const { openai, gemini, post } = simulatorClients();

async function raw(path: string, body: unknown, headers: Record<string, string> = {}): Promise<string> {
  const res = await post(path, body, headers);
  assert.equal(res.status, 200);
  return res.text();
}

const tokens = (text: string) => text.split(' ').length;

describe('schema instances', () => {
  test('a JSON Schema with refs, bounds, formats and combinators: every property, all valid', () => {
    const value = instanceOf(RICH, wordSource(7)) as Record<string, unknown>;
    assertValid(RICH, value);
    assert.deepEqual(Object.keys(value).sort(), Object.keys(RICH.properties).sort());
    assert.equal(value.level, 'low');
    assert.equal((value.tags as unknown[]).length, 2);
    assert.equal(value.maybe === null, false, 'a nullable type gets its non-null type');
  });

  test('a recursive schema ends, with what it requires and nothing else past the depth bound', () => {
    const value = instanceOf(TREE, wordSource(1));
    assertValid(TREE, value);
    let depth = 0;
    for (let n = value as { children: unknown[] }; n.children.length > 0; n = n.children[0] as typeof n)
      depth++;
    assert.ok(depth >= 1, 'the first levels have a child');
    const everyRequired = {
      type: 'object',
      properties: { a: { $ref: '#' }, b: { $ref: '#' }, c: { $ref: '#' } },
      required: ['a', 'b', 'c'],
    };
    // Unsatisfiable (every node needs three more): what matters is that it returns.
    assert.equal(typeof instanceOf(everyRequired, wordSource(1)), 'object');
  });

  test('Gemini schema: upper-case types, nullable, string-typed int64 bounds', () => {
    const schema: Schema = {
      type: Type.OBJECT,
      properties: {
        n: { type: Type.INTEGER, minimum: 3, maximum: 4 },
        list: { type: Type.ARRAY, items: { type: Type.NUMBER }, minItems: '3' },
        flag: { type: Type.BOOLEAN, nullable: true },
      },
      propertyOrdering: ['list', 'n'],
    };
    const value = instanceOf(schema, wordSource(3)) as Record<string, unknown>;
    checkGemini(schema, value);
    assert.deepEqual(Object.keys(value), ['list', 'n', 'flag']);
    assert.equal((value.list as number[]).length, 3);
  });
});

describe('JSON mode: Gemini', () => {
  test('generateContent with the router schema (responseSchema): JSON in the text part, usage to match', async () => {
    const ask = () =>
      gemini().models.generateContent({
        model: 'gemini-2.5-flash-lite',
        contents: 'route this prompt',
        config: { responseMimeType: 'application/json', responseSchema: ROUTER },
      });
    const res = await ask();
    const text = res.text ?? '';
    const value = JSON.parse(text);
    checkGemini(ROUTER, value);
    assert.equal(value.model_choice, 'flash');
    assert.equal(res.candidates?.[0].finishReason, 'STOP');
    assert.equal(res.usageMetadata?.candidatesTokenCount, tokens(text));
    assert.equal((await ask()).text, text, 'the same request gets the same answer');
  });

  test('streamGenerateContent (SSE) with responseJsonSchema: the chunks join into valid JSON', async () => {
    const stream = await gemini().models.generateContentStream({
      model: 'gemini-2.5-flash',
      contents: 'fill the form',
      config: { responseMimeType: 'application/json', responseJsonSchema: RICH },
    });
    const chunks: GenerateContentResponse[] = [];
    for await (const c of stream) chunks.push(c);
    assert.ok(chunks.length > 2);
    const text = chunks.map((c) => c.text ?? '').join('');
    assertValid(RICH, JSON.parse(text));
    assert.equal(chunks.at(-1)?.usageMetadata?.candidatesTokenCount, tokens(text));
    assert.equal(chunks.at(-1)?.candidates?.[0].finishReason, 'STOP');
  });

  test('streamGenerateContent as a JSON array, snake_case generation_config and response_schema', async () => {
    const body = {
      contents: [{ role: 'user', parts: [{ text: 'route' }] }],
      generation_config: { response_mime_type: 'application/json', response_schema: ROUTER },
    };
    const arr = JSON.parse(await raw('/v1beta/models/gemini-2.5-flash:streamGenerateContent', body));
    const text = arr.map((c: GenerateContentResponse) => c.candidates?.[0].content?.parts?.[0].text).join('');
    checkGemini(ROUTER, JSON.parse(text));
    assert.equal(arr.at(-1).usageMetadata.candidatesTokenCount, tokens(text));
  });

  test('application/json without a schema: a JSON object', async () => {
    const res = await gemini().models.generateContent({
      model: 'gemini-2.5-flash',
      contents: 'anything',
      config: { responseMimeType: 'application/json' },
    });
    const value = JSON.parse(res.text ?? '');
    assert.equal(typeof value, 'object');
    assert.ok(value !== null && !Array.isArray(value));
  });

  test('maxOutputTokens cuts the JSON as the API does: MAX_TOKENS, usage of what was sent', async () => {
    const cut = await gemini().models.generateContent({
      model: 'g',
      contents: 'form',
      config: { responseMimeType: 'application/json', responseJsonSchema: RICH, maxOutputTokens: 3 },
    });
    assert.equal(cut.candidates?.[0].finishReason, 'MAX_TOKENS');
    assert.equal(cut.usageMetadata?.candidatesTokenCount, 3);
    assert.equal(tokens(cut.text ?? ''), 3);
    assert.match(cut.text ?? '', /^\{"title":/);
    assert.throws(() => JSON.parse(cut.text ?? ''));
  });
});

describe('JSON mode: OpenAI', () => {
  const jsonSchema = (schema: Record<string, unknown>) =>
    ({ type: 'json_schema', json_schema: { name: 'answer', schema, strict: true } }) as const;

  test('chat, response_format json_schema: the SDK parses the content', async () => {
    const res = await openai().chat.completions.parse({
      model: 'gpt-5',
      messages: [{ role: 'user', content: 'fill the form' }],
      response_format: jsonSchema(RICH),
    });
    const msg = res.choices[0].message;
    assertValid(RICH, msg.parsed);
    assert.equal(res.usage?.completion_tokens, tokens(msg.content ?? ''));
  });

  test('chat streamed, json_schema: the deltas join into valid JSON, usage to match', async () => {
    const stream = await openai().chat.completions.create({
      model: 'gpt-5',
      messages: [{ role: 'user', content: 'tree' }],
      response_format: jsonSchema(TREE),
      stream: true,
      stream_options: { include_usage: true },
    });
    let text = '';
    let deltas = 0;
    let completion = -1;
    for await (const c of stream) {
      const d = c.choices[0]?.delta.content;
      if (d) {
        text += d;
        deltas++;
      }
      if (c.usage) completion = c.usage.completion_tokens;
    }
    assert.ok(deltas > 1);
    assertValid(TREE, JSON.parse(text));
    assert.equal(completion, tokens(text));
  });

  test('chat, json_object: a JSON object', async () => {
    const res = await openai().chat.completions.create({
      model: 'gpt-5',
      messages: [{ role: 'user', content: 'reply in JSON' }],
      response_format: { type: 'json_object' },
    });
    const value = JSON.parse(res.choices[0].message.content ?? '');
    assert.ok(typeof value === 'object' && value !== null && !Array.isArray(value));
  });

  test('Responses, text.format json_schema: output_text parses, the SDK fills output_parsed', async () => {
    const res = await openai().responses.parse({
      model: 'gpt-5',
      input: 'fill the form',
      text: { format: { type: 'json_schema', name: 'answer', schema: RICH, strict: true } },
    });
    assertValid(RICH, res.output_parsed);
    assert.equal(res.usage?.output_tokens, tokens(res.output_text));
  });

  test('Responses streamed, json_schema and json_object: the deltas and the final text agree', async () => {
    for (const format of [
      { type: 'json_schema', name: 'answer', schema: TREE, strict: true } as const,
      { type: 'json_object' } as const,
    ]) {
      const stream = openai().responses.stream({ model: 'gpt-5', input: 'tree', text: { format } });
      let deltas = '';
      stream.on('response.output_text.delta', (e) => {
        deltas += e.delta;
      });
      const final = await stream.finalResponse();
      assert.equal(final.output_text, deltas);
      const value = JSON.parse(deltas);
      if (format.type === 'json_schema') assertValid(TREE, value);
      else assert.ok(typeof value === 'object' && value !== null && !Array.isArray(value));
      assert.equal(final.usage?.output_tokens, tokens(deltas));
    }
  });
});

describe('without JSON mode', () => {
  test('words as before: no or a text format, a non-JSON Gemini mime type, Anthropic', async () => {
    const messages = [{ role: 'user', content: 'hello' }];
    const plain = JSON.parse(await raw('/v1/chat/completions', { model: 'gpt-5', messages }));
    const text = JSON.parse(
      await raw('/v1/chat/completions', { model: 'gpt-5', messages, response_format: { type: 'text' } }),
    );
    for (const r of [plain, text]) {
      const content: string = r.choices[0].message.content;
      assert.match(content, /^[a-z]+( [a-z]+){4}$/);
    }
    const g = JSON.parse(
      await raw('/v1beta/models/g:generateContent', {
        contents: [],
        generationConfig: { responseMimeType: 'text/plain', responseSchema: ROUTER },
      }),
    );
    assert.match(g.candidates[0].content.parts[0].text, /^[a-z]+( [a-z]+){4}$/);
    const a = JSON.parse(
      await raw(
        '/v1/messages',
        { model: 'claude', max_tokens: 100, messages, response_format: { type: 'json_object' } },
        { 'x-api-key': 'k' },
      ),
    );
    assert.match(a.content[0].text, /^[a-z]+( [a-z]+){4}$/);
  });

  test('x-sim-text still chooses the answer in JSON mode', async () => {
    const r = JSON.parse(
      await raw(
        '/v1/chat/completions',
        { model: 'gpt-5', messages: [], response_format: { type: 'json_object' } },
        { 'x-sim-text': encodeURIComponent('not json') },
      ),
    );
    assert.equal(r.choices[0].message.content, 'not json');
  });
});
