import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  compileChain,
  redactRequest,
  redactResponse,
  scanRequest,
  scanResponse,
  streamDeltas,
  walkRequest,
  walkResponse,
} from '../../src/guardrails/index.ts';
import type { Surface } from '../../src/policy/decision.ts';
import { randomFrom } from './fakes.ts';

const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
const gh = () => `ghp_${randomFrom(ALNUM, 36)}`;
const aws = () => `AKIA${randomFrom('ABCDEFGHIJKLMNOPQRSTUVWXYZ234567', 16)}`;
const pw = () => `${randomFrom(ALNUM, 18)}!7`;
// Base64 image data that happens to contain a credential-shaped run: never text, never scanned.
const imageData = () => Buffer.from(`\x89PNG....${aws()}....`).toString('base64') + aws();

const chain = compileChain(
  {
    apiVersion: 'portcullis.dev/v1',
    kind: 'GuardrailChain',
    metadata: { name: 'surfaces' },
    spec: { steps: [{ detector: 'secrets', action: 'redact', stage: 'both' }] },
  },
  { cache: false, fingerprintSalt: 'surfaces-test-salt-0123456789' },
);

function paths(walk: typeof walkRequest, surface: Surface, body: unknown): string[] {
  const out: string[] = [];
  walk(surface, body, (s) => {
    out.push(s.json ? `${s.path} (json)` : s.path);
  });
  return out;
}

interface Case {
  surface: Surface;
  body: () => { body: unknown; secrets: string[] };
  paths: string[];
  /** Paths of the findings, in order. */
  found: string[];
}

const requests: Case[] = [
  {
    surface: 'openai.chat',
    body: () => {
      const s = [gh(), aws(), gh(), pw(), gh()];
      return {
        secrets: s,
        body: {
          model: 'gpt-5',
          messages: [
            { role: 'system', content: `You deploy with ${s[0]}.` },
            {
              role: 'user',
              content: [
                { type: 'text', text: `keys: ${s[1]}` },
                { type: 'image_url', image_url: { url: `data:image/png;base64,${imageData()}` } },
              ],
            },
            {
              role: 'assistant',
              content: null,
              tool_calls: [
                {
                  id: 'call_1',
                  type: 'function',
                  function: {
                    name: 'bash',
                    arguments: JSON.stringify({
                      command: `git push https://${s[2]}@github.com/a/b`,
                      env: { DB_PASSWORD: s[3] },
                    }),
                  },
                },
              ],
            },
            { role: 'tool', tool_call_id: 'call_1', content: `remote: token ${s[4]} accepted` },
          ],
        },
      };
    },
    paths: [
      'messages[0].content',
      'messages[1].content[0].text',
      'messages[2].tool_calls[0].id',
      'messages[2].tool_calls[0].function.name',
      'messages[2].tool_calls[0].function.arguments (json)',
      'messages[3].tool_call_id',
      'messages[3].content',
    ],
    found: [
      'messages[0].content',
      'messages[1].content[0].text',
      'messages[2].tool_calls[0].function.arguments.command',
      'messages[2].tool_calls[0].function.arguments.env.DB_PASSWORD',
      'messages[3].content',
    ],
  },
  {
    surface: 'openai.responses',
    body: () => {
      const s = [gh(), aws(), gh(), gh()];
      return {
        secrets: s,
        body: {
          model: 'gpt-5',
          instructions: `Use ${s[0]} for GitHub.`,
          input: [
            {
              role: 'user',
              content: [
                { type: 'input_text', text: `my key ${s[1]}` },
                { type: 'input_image', image_url: `data:image/png;base64,${imageData()}` },
              ],
            },
            {
              type: 'function_call',
              call_id: 'c1',
              name: 'shell',
              arguments: JSON.stringify({ cmd: ['curl', '-H', `Authorization: token ${s[2]}`] }),
            },
            { type: 'function_call_output', call_id: 'c1', output: `{"token":"${s[3]}"}` },
            { type: 'reasoning', summary: [{ type: 'summary_text', text: 'Checked the remote.' }] },
          ],
        },
      };
    },
    paths: [
      'instructions',
      'input[0].content[0].text',
      'input[1].call_id',
      'input[1].name',
      'input[1].arguments (json)',
      'input[2].call_id',
      'input[2].output',
      'input[3].summary[0].text',
    ],
    found: ['instructions', 'input[0].content[0].text', 'input[1].arguments.cmd[2]', 'input[2].output'],
  },
  {
    surface: 'openai.embeddings',
    body: () => {
      const s = [gh()];
      return {
        secrets: s,
        body: { model: 'text-embedding-3-small', input: ['plain text', `leaked ${s[0]}`] },
      };
    },
    paths: ['input[0]', 'input[1]'],
    found: ['input[1]'],
  },
  {
    surface: 'anthropic.messages',
    body: () => {
      const s = [gh(), aws(), gh(), gh()];
      return {
        secrets: s,
        body: {
          model: 'claude-sonnet-4-5',
          system: [{ type: 'text', text: `Deploy key ${s[0]}` }],
          messages: [
            {
              role: 'user',
              content: [
                { type: 'text', text: `aws ${s[1]}` },
                { type: 'image', source: { type: 'base64', media_type: 'image/png', data: imageData() } },
              ],
            },
            {
              role: 'assistant',
              content: [
                { type: 'thinking', thinking: 'signed reasoning', signature: 'sig' },
                {
                  type: 'tool_use',
                  id: 'tu1',
                  name: 'Bash',
                  input: { command: `export GH=${s[2]}`, timeout: 30 },
                },
              ],
            },
            {
              role: 'user',
              content: [
                {
                  type: 'tool_result',
                  tool_use_id: 'tu1',
                  content: [{ type: 'text', text: `echo: ${s[3]}` }],
                },
              ],
            },
          ],
        },
      };
    },
    paths: [
      'system[0].text',
      'messages[0].content[0].text',
      'messages[1].content[1].id',
      'messages[1].content[1].name',
      'messages[1].content[1].input.command',
      'messages[2].content[0].tool_use_id',
      'messages[2].content[0].content[0].text',
    ],
    found: [
      'system[0].text',
      'messages[0].content[0].text',
      'messages[1].content[1].input.command',
      'messages[2].content[0].content[0].text',
    ],
  },
  {
    surface: 'gemini.generate',
    body: () => {
      const s = [gh(), aws(), gh(), gh()];
      return {
        secrets: s,
        body: {
          systemInstruction: { parts: [{ text: `Token ${s[0]}` }] },
          contents: [
            {
              role: 'user',
              parts: [{ text: `key ${s[1]}` }, { inlineData: { mimeType: 'image/png', data: imageData() } }],
            },
            {
              role: 'model',
              parts: [
                {
                  functionCall: {
                    name: 'run',
                    args: { argv: ['gh', 'auth', 'login', '--with-token', s[2]] },
                  },
                },
              ],
            },
            {
              role: 'user',
              parts: [{ functionResponse: { name: 'run', response: { stdout: `logged in with ${s[3]}` } } }],
            },
          ],
        },
      };
    },
    paths: [
      'systemInstruction.parts[0].text',
      'contents[0].parts[0].text',
      'contents[1].parts[0].functionCall.name',
      'contents[1].parts[0].functionCall.args.argv[0]',
      'contents[1].parts[0].functionCall.args.argv[1]',
      'contents[1].parts[0].functionCall.args.argv[2]',
      'contents[1].parts[0].functionCall.args.argv[3]',
      'contents[1].parts[0].functionCall.args.argv[4]',
      'contents[2].parts[0].functionResponse.name',
      'contents[2].parts[0].functionResponse.response.stdout',
    ],
    found: [
      'systemInstruction.parts[0].text',
      'contents[0].parts[0].text',
      'contents[1].parts[0].functionCall.args.argv[4]',
      'contents[2].parts[0].functionResponse.response.stdout',
    ],
  },
];

describe('request surfaces', () => {
  for (const c of requests) {
    test(`${c.surface}: texts, findings and redaction`, async () => {
      const { body, secrets } = c.body();
      const original = structuredClone(body);
      assert.deepEqual(paths(walkRequest, c.surface, body), c.paths);
      const { findings } = await scanRequest(chain, c.surface, body);
      assert.deepEqual(
        findings.map((f) => f.path),
        c.found,
      );
      const redacted = redactRequest(c.surface, body, findings);
      assert.deepEqual(body, original, 'the input body is not modified');
      const json = JSON.stringify(redacted);
      for (const s of secrets) assert.ok(!json.includes(s), 'every secret is gone');
      assert.ok(json.includes('[REDACTED:github_pat]'));
      // Same shape: only strings changed, images untouched, JSON arguments still JSON.
      assert.deepEqual(shape(redacted), shape(body));
      walkRequest(c.surface, redacted, (s) => {
        if (s.json) JSON.parse(s.holder[s.prop] as string);
      });
      assert.deepEqual((await scanRequest(chain, c.surface, redacted)).findings, []);
    });
  }

  test('redaction keeps the text around the secret', async () => {
    const token = gh();
    const body = { messages: [{ role: 'user', content: `before ${token} after` }] };
    const { findings } = await scanRequest(chain, 'openai.chat', body);
    assert.equal(
      redactRequest('openai.chat', body, findings).messages[0].content,
      'before [REDACTED:github_pat] after',
    );
  });

  test('a finding without a span redacts its whole text; size findings redact nothing', () => {
    const body = { input: ['one', 'two'] };
    const out = redactRequest('openai.embeddings', body, [
      {
        rule: 'classified',
        type: 'external',
        stage: 'request',
        path: 'input[1]',
        action: 'redact',
        fingerprint: 'f',
        chain: 'c',
        step: 0,
      },
      {
        rule: 'max_bytes',
        type: 'size',
        stage: 'request',
        path: '$',
        action: 'redact',
        fingerprint: 'g',
        chain: 'c',
        step: 1,
      },
    ]);
    assert.deepEqual(out, { input: ['one', '[REDACTED:classified]'] });
  });
});

function shape(v: unknown): unknown {
  if (typeof v === 'string') return v.startsWith('data:') || /^[A-Za-z0-9+/=]{40,}$/.test(v) ? v : 'string';
  if (Array.isArray(v)) return v.map(shape);
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, shape(x)]));
  return v;
}

describe('response surfaces', () => {
  const token = gh();
  const cases: [Surface, unknown, string[]][] = [
    [
      'openai.chat',
      {
        choices: [
          {
            index: 0,
            message: {
              role: 'assistant',
              content: `use ${token}`,
              tool_calls: [
                {
                  id: 'c',
                  type: 'function',
                  function: { name: 'f', arguments: JSON.stringify({ t: token }) },
                },
              ],
            },
          },
        ],
      },
      ['choices[0].message.content', 'choices[0].message.tool_calls[0].function.arguments.t'],
    ],
    [
      'openai.responses',
      {
        output: [
          { type: 'reasoning', summary: [{ type: 'summary_text', text: 'thinking' }] },
          { type: 'message', role: 'assistant', content: [{ type: 'output_text', text: `use ${token}` }] },
          { type: 'function_call', name: 'f', call_id: 'c', arguments: JSON.stringify({ t: token }) },
        ],
      },
      ['output[1].content[0].text', 'output[2].arguments.t'],
    ],
    [
      'anthropic.messages',
      {
        content: [
          { type: 'text', text: `use ${token}` },
          { type: 'tool_use', id: 't', name: 'f', input: { t: token } },
        ],
      },
      ['content[0].text', 'content[1].input.t'],
    ],
    [
      'gemini.generate',
      {
        candidates: [
          {
            content: {
              role: 'model',
              parts: [{ text: `use ${token}` }, { functionCall: { name: 'f', args: { t: token } } }],
            },
          },
        ],
      },
      ['candidates[0].content.parts[0].text', 'candidates[0].content.parts[1].functionCall.args.t'],
    ],
  ];
  for (const [surface, body, expected] of cases) {
    test(`${surface}: findings and redaction`, async () => {
      const { findings } = await scanResponse(chain, surface, body);
      assert.deepEqual(
        findings.map((f) => f.path),
        expected,
      );
      assert.ok(findings.every((f) => f.stage === 'response'));
      const redacted = JSON.stringify(redactResponse(surface, body, findings));
      assert.ok(!redacted.includes(token));
    });
  }

  test("the response's own id, made up by the provider, is not read; anything else in that field is", () => {
    const content = 'the answer';
    const cases: [Surface, string, (id: string) => unknown, string][] = [
      [
        'openai.chat',
        'id',
        (id) => ({ id, choices: [{ message: { content } }] }),
        'choices[0].message.content',
      ],
      [
        'anthropic.messages',
        'id',
        (id) => ({ id, content: [{ type: 'text', text: content }] }),
        'content[0].text',
      ],
      [
        'openai.responses',
        'id',
        (id) => ({
          id,
          output: [{ id, type: 'message', content: [{ type: 'output_text', text: content }] }],
        }),
        'output[0].content[0].text',
      ],
      [
        'gemini.generate',
        'responseId',
        (id) => ({ responseId: id, candidates: [{ content: { parts: [{ text: content }] } }] }),
        'candidates[0].content.parts[0].text',
      ],
    ];
    for (const [surface, key, body, text] of cases) {
      const visited = paths(walkResponse, surface, body('chatcmpl-AbC123dEf456GhI789jKl012'));
      assert.ok(!visited.includes(key), `${surface}: ${visited.join(', ')}`);
      assert.ok(visited.includes(text), surface);
      assert.ok(paths(walkResponse, surface, body('not an id: AKIA… here')).includes(key), surface);
    }
  });

  test('embeddings responses carry no text', () => {
    assert.deepEqual(paths(walkResponse, 'openai.embeddings', { data: [{ embedding: [0.1, 0.2] }] }), []);
  });
});

describe('response bodies: every string the client receives is read', () => {
  // Each case puts credentials where no list of known response fields looked (a new block or output
  // item type, a citation, an annotation, a tool's structured result) and, beside them, credential-
  // shaped values in fields that are not text (opaque provider state, binary media, request echoes),
  // which must not be reported.
  const cases: {
    surface: Surface;
    body: (t: string[]) => unknown;
    found: string[];
    /** Checks on the redacted body beyond "same shape". */
    redacted?: (body: never) => void;
  }[] = [
    {
      surface: 'anthropic.messages',
      body: (t) => ({
        id: 'msg_01XFDUDYJgAACzvnptvVoYEL',
        type: 'message',
        role: 'assistant',
        model: 'claude-sonnet-4-5',
        content: [
          { type: 'thinking', thinking: `I will use ${t[0]}`, signature: aws() },
          { type: 'redacted_thinking', data: aws() },
          { type: 'server_tool_use', id: 'srvtoolu_1', name: 'web_search', input: { query: t[1] } },
          {
            type: 'web_search_tool_result',
            tool_use_id: 'srvtoolu_1',
            content: [
              { type: 'web_search_result', url: 'https://x.test/a', title: t[2], encrypted_content: aws() },
            ],
          },
          {
            type: 'text',
            text: 'See the docs.',
            citations: [{ type: 'char_location', cited_text: t[3], document_index: 0 }],
          },
          { type: 'hologram_2031', payload: { caption: t[4] } },
        ],
        stop_reason: 'end_turn',
      }),
      found: [
        'content[0].thinking',
        'content[2].input.query',
        'content[3].content[0].title',
        'content[4].citations[0].cited_text',
        'content[5].payload.caption',
      ],
    },
    {
      surface: 'openai.chat',
      body: (t) => ({
        id: 'chatcmpl-9x',
        object: 'chat.completion',
        model: 'gpt-5',
        system_fingerprint: 'fp_44709d6fcb',
        choices: [
          {
            index: 0,
            message: {
              role: 'assistant',
              content: 'Done.',
              annotations: [
                { type: 'url_citation', url_citation: { url: `https://x.test/?k=${t[0]}`, title: 'x' } },
              ],
              audio: { id: 'audio_1', data: imageData(), expires_at: 1, transcript: `say ${t[1]}` },
              tool_calls: [
                { id: 'call_1', type: 'custom', custom: { name: 'sh', input: `export T=${t[2]}` } },
              ],
            },
            finish_reason: 'stop',
          },
        ],
      }),
      found: [
        'choices[0].message.annotations[0].url_citation.url',
        'choices[0].message.audio.transcript',
        'choices[0].message.tool_calls[0].custom.input',
      ],
    },
    {
      surface: 'openai.responses',
      body: (t) => ({
        id: 'resp_1',
        object: 'response',
        model: 'gpt-5',
        instructions: `Deploy with ${aws()}`,
        metadata: { owner: aws() },
        tools: [{ type: 'function', name: 'f', description: aws() }],
        output: [
          { type: 'reasoning', id: 'rs_1', summary: [], encrypted_content: aws() },
          {
            type: 'web_search_call',
            id: 'ws_1',
            status: 'completed',
            action: { type: 'search', query: t[0] },
          },
          { type: 'image_generation_call', id: 'ig_1', status: 'completed', result: imageData() },
          {
            type: 'local_shell_call',
            id: 'ls_1',
            action: { type: 'exec', command: ['sh', '-c', `curl -H ${t[1]}`] },
          },
          { type: 'quantum_call_2031', id: 'q_1', payload: `entangle ${t[2]}` },
        ],
      }),
      found: ['output[1].action.query', 'output[3].action.command[2]', 'output[4].payload'],
    },
    {
      surface: 'gemini.generate',
      body: (t) => ({
        candidates: [
          {
            content: {
              role: 'model',
              parts: [
                { text: 'ok', thought: true, thoughtSignature: aws() },
                { inlineData: { mimeType: 'image/png', data: imageData() } },
                { executableCode: { language: 'PYTHON', code: `key = "${t[0]}"` } },
                { videoMetadata2031: { note: t[1] } },
              ],
            },
            finishReason: 'STOP',
            groundingMetadata: { webSearchQueries: [t[2]] },
          },
        ],
        modelVersion: 'gemini-2.5-pro',
      }),
      found: [
        'candidates[0].content.parts[2].executableCode.code',
        'candidates[0].content.parts[3].videoMetadata2031.note',
        'candidates[0].groundingMetadata.webSearchQueries[0]',
      ],
    },
    {
      surface: 'mcp.tools_call',
      body: (t) => ({
        jsonrpc: '2.0',
        id: 7,
        result: {
          content: [
            { type: 'text', text: 'listed' },
            { type: 'image', mimeType: 'image/png', data: imageData() },
            {
              type: 'resource',
              resource: { uri: 'file:///a.env', mimeType: 'text/plain', text: `T=${t[0]}` },
            },
            {
              type: 'resource',
              resource: {
                uri: 'file:///b.env',
                mimeType: 'text/plain',
                blob: Buffer.from(`T=${t[1]}`).toString('base64'),
              },
            },
          ],
          structuredContent: { env: { GITHUB_TOKEN: t[2] } },
        },
      }),
      found: [
        'result.content[2].resource.text',
        'result.content[3].resource.blob',
        'result.structuredContent.env.GITHUB_TOKEN',
      ],
      // The text/plain blob is decoded to be read, and redacted in its own encoding.
      redacted: (body: { result: { content: { resource: { blob: string } }[] } }) =>
        assert.equal(
          Buffer.from(body.result.content[3].resource.blob, 'base64').toString(),
          'T=[REDACTED:github_pat]',
        ),
    },
  ];
  for (const c of cases) {
    test(`${c.surface}: found wherever it is, skipped fields unread, redacted in place`, async () => {
      const tokens = c.found.map(() => gh());
      const body = c.body(tokens);
      const { findings } = await scanResponse(chain, c.surface, body);
      assert.deepEqual(
        findings.map((f) => f.path),
        c.found,
      );
      assert.ok(findings.every((f) => f.stage === 'response' && f.rule === 'github_pat'));
      const redacted = redactResponse(c.surface, body, findings);
      const json = JSON.stringify(redacted);
      for (const t of tokens) assert.ok(!json.includes(t), 'every credential is gone');
      if (c.redacted) c.redacted(redacted as never);
      else assert.deepEqual(shape(redacted), shape(body), 'only the texts changed');
      assert.deepEqual((await scanResponse(chain, c.surface, redacted)).findings, []);
    });
  }

  test("providers' ids and bookkeeping fields, now read too, are not mistaken for credentials", async () => {
    const B62 = ALNUM;
    const hex = (n: number) => randomFrom('0123456789abcdef', n);
    for (let i = 0; i < 300; i++) {
      const answers: [Surface, unknown][] = [
        [
          'anthropic.messages',
          {
            id: `msg_01${randomFrom(B62, 22)}`,
            model: 'claude-sonnet-4-5-20250929',
            content: [
              {
                type: 'tool_use',
                id: `toolu_01${randomFrom(B62, 22)}`,
                name: 'Bash',
                input: { command: 'ls' },
              },
              {
                type: 'server_tool_use',
                id: `srvtoolu_01${randomFrom(B62, 22)}`,
                name: 'web_search',
                input: {},
              },
            ],
            container: { id: `container_${randomFrom(B62, 24)}`, expires_at: '2026-12-07T12:00:00Z' },
          },
        ],
        [
          'openai.chat',
          {
            id: `chatcmpl-${randomFrom(B62, 29)}`,
            system_fingerprint: `fp_${hex(10)}`,
            choices: [
              {
                index: 0,
                message: {
                  role: 'assistant',
                  tool_calls: [
                    {
                      id: `call_${randomFrom(B62, 24)}`,
                      type: 'function',
                      function: { name: 'f', arguments: '{}' },
                    },
                  ],
                },
              },
            ],
          },
        ],
        [
          'openai.responses',
          {
            id: `resp_${hex(48)}`,
            output: [
              { id: `rs_${hex(48)}`, type: 'reasoning', summary: [] },
              {
                id: `fc_${hex(48)}`,
                type: 'function_call',
                call_id: `call_${randomFrom(B62, 24)}`,
                name: 'f',
                arguments: '{}',
              },
            ],
          },
        ],
        [
          'gemini.generate',
          { candidates: [], modelVersion: 'gemini-2.5-pro', responseId: randomFrom(`${B62}-_`, 22) },
        ],
        [
          'mcp.tools_call',
          {
            jsonrpc: '2.0',
            id: i,
            result: { structuredContent: { etag: hex(32), uuid: crypto.randomUUID() } },
          },
        ],
      ];
      for (const [surface, body] of answers)
        assert.deepEqual((await scanResponse(chain, surface, body)).findings, []);
    }
  });

  test('a credential split across two text blocks of a response is found and redacted in both', async () => {
    const t = gh();
    const body = {
      content: [
        { type: 'text', text: `the token is ${t.slice(0, 19)}` },
        { type: 'text', text: `${t.slice(19)} and nothing else` },
      ],
    };
    const { findings } = await scanResponse(chain, 'anthropic.messages', body);
    assert.equal(findings.length, 1);
    assert.deepEqual(
      findings[0].parts?.map((p) => p.path),
      ['content[0].text', 'content[1].text'],
    );
    const redacted = redactResponse('anthropic.messages', body, findings);
    assert.equal(redacted.content[0].text, 'the token is [REDACTED:github_pat]');
    assert.equal(redacted.content[1].text, '[REDACTED:github_pat] and nothing else');
  });

  test('a credential hidden by zero-width characters or URL-encoding in a response is found', async () => {
    const t = gh();
    const hidden = `${t.slice(0, 10)}\u200b${t.slice(10)}`;
    const encoded = `${t.slice(0, 6)}%${t.charCodeAt(6).toString(16)}${t.slice(7)}`;
    const body = {
      choices: [{ index: 0, message: { role: 'assistant', content: `a ${hidden} b ${encoded}` } }],
    };
    const { findings } = await scanResponse(chain, 'openai.chat', body);
    assert.equal(findings.length, 2);
    const redacted = redactResponse('openai.chat', body, findings).choices[0].message.content;
    assert.equal(redacted, 'a [REDACTED:github_pat] b [REDACTED:github_pat]');
  });
});

describe('stream deltas', () => {
  test('OpenAI chat: content and tool-call argument deltas', () => {
    assert.deepEqual(
      streamDeltas('openai.chat', {
        choices: [
          {
            index: 0,
            delta: { content: 'Hel', tool_calls: [{ index: 1, function: { arguments: '{"a":' } }] },
          },
        ],
      }),
      [
        { path: 'choices[0].message.content', text: 'Hel' },
        { path: 'choices[0].message.tool_calls[1].function.arguments', text: '{"a":' },
      ],
    );
    assert.deepEqual(
      streamDeltas('openai.chat', { choices: [{ index: 0, delta: {}, finish_reason: 'stop' }] }),
      [],
    );
  });

  test('OpenAI Responses: output text and function-call argument events', () => {
    assert.deepEqual(
      streamDeltas('openai.responses', {
        type: 'response.output_text.delta',
        output_index: 1,
        content_index: 0,
        delta: 'Hi',
      }),
      [{ path: 'output[1].content[0].text', text: 'Hi' }],
    );
    assert.deepEqual(
      streamDeltas('openai.responses', {
        type: 'response.function_call_arguments.delta',
        output_index: 2,
        delta: '{"x"',
      }),
      [{ path: 'output[2].arguments', text: '{"x"' }],
    );
    assert.deepEqual(streamDeltas('openai.responses', { type: 'response.completed', response: {} }), []);
  });

  test('Anthropic: text and input_json deltas', () => {
    assert.deepEqual(
      streamDeltas('anthropic.messages', {
        type: 'content_block_delta',
        index: 0,
        delta: { type: 'text_delta', text: 'Hi' },
      }),
      [{ path: 'content[0].text', text: 'Hi' }],
    );
    assert.deepEqual(
      streamDeltas('anthropic.messages', {
        type: 'content_block_delta',
        index: 2,
        delta: { type: 'input_json_delta', partial_json: '{"cmd' },
      }),
      [{ path: 'content[2].input', text: '{"cmd' }],
    );
    assert.deepEqual(
      streamDeltas('anthropic.messages', { type: 'message_delta', delta: { stop_reason: 'end_turn' } }),
      [],
    );
  });

  test('Gemini: candidate part text and function calls', () => {
    assert.deepEqual(
      streamDeltas('gemini.generate', {
        candidates: [
          {
            index: 0,
            content: {
              role: 'model',
              parts: [{ text: 'Hi' }, { functionCall: { name: 'f', args: { a: 1 } } }],
            },
          },
        ],
      }),
      [
        { path: 'candidates[0].content.parts[0].text', text: 'Hi' },
        { path: 'candidates[0].content.parts[1].functionCall.args', text: '{"a":1}' },
      ],
    );
  });
});

test('a value named by its key and matched by a rule is reported once, under the specific rule', async () => {
  const key = `sk-proj-${randomFrom(ALNUM, 80)}`;
  const { findings } = await scanRequest(chain, 'anthropic.messages', {
    messages: [
      {
        role: 'assistant',
        content: [{ type: 'tool_use', id: 't', name: 'configure', input: { api_key: key } }],
      },
    ],
  });
  assert.deepEqual(
    findings.map((f) => [f.rule, f.path]),
    [['openai_project_key', 'messages[0].content[0].input.api_key']],
  );
});
