// Scan by default: every string a provider receives is scanned, whatever block or field holds it, and
// simple encodings (split across messages, base64, URL-encoding, wrapping, invisibles) do not hide a
// credential. Findings name the original place and redaction edits it.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  compileChain,
  redactRequest,
  ScanCache,
  scanRequest,
  walkRequest,
} from '../../src/guardrails/index.ts';
import { SKIP_LISTS } from '../../src/guardrails/skip-lists.ts';
import type { Surface } from '../../src/policy/decision.ts';
import { randomFrom } from './fakes.ts';

const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
const gh = () => `ghp_${randomFrom(ALNUM, 36)}`;
const aws = () => `AKIA${randomFrom('ABCDEFGHIJKLMNOPQRSTUVWXYZ234567', 16)}`;

const chain = compileChain(
  {
    apiVersion: 'portcullis.dev/v1',
    kind: 'GuardrailChain',
    metadata: { name: 'walk' },
    spec: { steps: [{ detector: 'secrets', action: 'redact' }] },
  },
  { cache: false, fingerprintSalt: 'walk-test-salt-0123456789abcdef' },
);

async function found(surface: Surface, body: unknown): Promise<string[]> {
  const { findings } = await scanRequest(chain, surface, body);
  return findings.map((f) => `${f.rule}@${f.path}`);
}

describe('every string the provider receives is scanned', () => {
  const cases: [string, Surface, (s: string) => unknown, string][] = [
    [
      'Anthropic document with source.type content',
      'anthropic.messages',
      (s) => ({
        messages: [
          {
            role: 'user',
            content: [
              { type: 'document', source: { type: 'content', content: [{ type: 'text', text: s }] } },
            ],
          },
        ],
      }),
      'messages[0].content[0].source.content[0].text',
    ],
    [
      'Anthropic search_result inside a tool_result',
      'anthropic.messages',
      (s) => ({
        messages: [
          {
            role: 'user',
            content: [
              {
                type: 'tool_result',
                tool_use_id: 't1',
                content: [
                  {
                    type: 'search_result',
                    source: 'https://wiki',
                    title: 'Ops',
                    content: [{ type: 'text', text: s }],
                  },
                ],
              },
            ],
          },
        ],
      }),
      'messages[0].content[0].content[0].content[0].text',
    ],
    [
      'Anthropic document title and context',
      'anthropic.messages',
      (s) => ({
        messages: [
          {
            role: 'user',
            content: [
              {
                type: 'document',
                title: 'notes',
                context: `deploy with ${s}`,
                source: { type: 'text', data: 'x' },
              },
            ],
          },
        ],
      }),
      'messages[0].content[0].context',
    ],
    [
      'OpenAI prediction.content',
      'openai.chat',
      (s) => ({ messages: [{ role: 'user', content: 'hi' }], prediction: { type: 'content', content: s } }),
      'prediction.content',
    ],
    [
      'OpenAI message name',
      'openai.chat',
      (s) => ({ messages: [{ role: 'user', name: s, content: 'hi' }] }),
      'messages[0].name',
    ],
    [
      'a tool description',
      'anthropic.messages',
      (s) => ({
        messages: [{ role: 'user', content: 'hi' }],
        tools: [{ name: 'deploy', description: `Uses ${s}`, input_schema: { type: 'object' } }],
      }),
      'tools[0].description',
    ],
    [
      'a tool_use name',
      'anthropic.messages',
      (s) => ({
        messages: [{ role: 'assistant', content: [{ type: 'tool_use', id: 't', name: s, input: {} }] }],
      }),
      'messages[0].content[0].name',
    ],
    [
      'metadata',
      'anthropic.messages',
      (s) => ({ messages: [{ role: 'user', content: 'hi' }], metadata: { user_id: s } }),
      'metadata.user_id',
    ],
    [
      'a block type no API has yet',
      'anthropic.messages',
      (s) => ({
        messages: [{ role: 'user', content: [{ type: 'hologram_2031', projection: { caption: s } }] }],
      }),
      'messages[0].content[0].projection.caption',
    ],
    [
      'an MCP call argument nested anywhere',
      'mcp.tools_call',
      (s) => ({
        jsonrpc: '2.0',
        id: 1,
        method: 'tools/call',
        params: { name: 'x', arguments: { a: [{ b: s }] } },
      }),
      'params.arguments.a[0].b',
    ],
    [
      'a secret-shaped value in an enum field',
      'openai.responses',
      (s) => ({ input: [{ type: s, role: 'user', content: 'hi' }] }),
      'input[0].type',
    ],
  ];
  for (const [name, surface, make, path] of cases) {
    test(name, async () => {
      assert.deepEqual(await found(surface, make(gh())), [`github_pat@${path}`]);
    });
  }

  test('a presigned image URL carries its credential in the query string', async () => {
    const key = aws();
    const body = {
      messages: [
        {
          role: 'user',
          content: [
            {
              type: 'image_url',
              image_url: {
                url: `https://b.s3.amazonaws.com/x.png?X-Amz-Credential=${key}%2F20260101%2Fus-east-1`,
              },
            },
          ],
        },
      ],
    };
    assert.deepEqual(await found('openai.chat', body), [
      'aws_access_key_id@messages[0].content[0].image_url.url',
    ]);
  });

  test('Gemini inlineData of a text type is decoded, scanned and redacted in place', async () => {
    const s = gh();
    const data = Buffer.from(`config:\n  token: ${s}\n`).toString('base64');
    const body = { contents: [{ role: 'user', parts: [{ inlineData: { mimeType: 'text/plain', data } }] }] };
    const { findings } = await scanRequest(chain, 'gemini.generate', body);
    assert.deepEqual(
      findings.map((f) => f.path),
      ['contents[0].parts[0].inlineData.data'],
    );
    const redacted = redactRequest('gemini.generate', body, findings);
    const text = Buffer.from(redacted.contents[0].parts[0].inlineData.data, 'base64').toString();
    assert.equal(text, 'config:\n  token: [REDACTED:github_pat]\n');
  });

  test('a text data URL is scanned; image data is not text and is left alone', async () => {
    const s = gh();
    const image = Buffer.from(`\x89PNG\r\n${gh()}`).toString('base64');
    const body = {
      input: [
        {
          role: 'user',
          content: [
            {
              type: 'input_file',
              file_data: `data:text/plain;base64,${Buffer.from(`key ${s}`).toString('base64')}`,
            },
            { type: 'input_image', image_url: `data:image/png;base64,${image}` },
          ],
        },
      ],
    };
    assert.deepEqual(await found('openai.responses', body), ['github_pat@input[0].content[0].file_data']);
  });

  test('signed thinking, encrypted reasoning and the model id are skipped, with a reason each', () => {
    const body = {
      model: 'claude-sonnet-4-5',
      messages: [
        {
          role: 'assistant',
          content: [
            { type: 'thinking', thinking: 'secret reasoning', signature: 'c2lnbmVk' },
            { type: 'redacted_thinking', data: 'ZW5jcnlwdGVk' },
            { type: 'text', text: 'visible' },
          ],
        },
      ],
    };
    const paths: string[] = [];
    walkRequest('anthropic.messages', body, (s) => {
      paths.push(s.path);
    });
    assert.deepEqual(paths, ['messages[0].content[2].text']);
    for (const list of SKIP_LISTS)
      for (const r of list.rules) assert.ok(r.reason.length > 10, `${list.format}.${r.key}`);
  });
});

describe('encodings do not hide a credential', () => {
  test('a token whose last character is URL-encoded is redacted to its last byte', async () => {
    const s = gh();
    const hidden = `${s.slice(0, -1)}%${s.charCodeAt(s.length - 1).toString(16)}`;
    const body = { messages: [{ role: 'user', content: `use ${hidden} now` }] };
    const { findings } = await scanRequest(chain, 'openai.chat', body);
    assert.equal(findings.length, 1);
    assert.equal(
      redactRequest('openai.chat', body, findings).messages[0].content,
      'use [REDACTED:github_pat] now',
    );
  });

  test('a secret split across two messages is found and redacted in both', async () => {
    const s = gh();
    const body = {
      messages: [
        { role: 'user', content: `the token is ${s.slice(0, 20)}` },
        { role: 'user', content: `${s.slice(20)} and that is all` },
      ],
    };
    const { findings } = await scanRequest(chain, 'openai.chat', body);
    assert.equal(findings.length, 1);
    assert.deepEqual(
      findings[0].parts?.map((p) => p.path),
      ['messages[0].content', 'messages[1].content'],
    );
    const redacted = redactRequest('openai.chat', body, findings);
    assert.equal(redacted.messages[0].content, 'the token is [REDACTED:github_pat]');
    assert.equal(redacted.messages[1].content, '[REDACTED:github_pat] and that is all');
  });

  test('a split secret is found again from the cache, after the texts around it changed', async () => {
    // The cache keeps the result across each seam with the text that followed last time; these bodies
    // change what follows the first half, repeat it within one body, then go back.
    const cached = compileChain(
      {
        apiVersion: 'portcullis.dev/v1',
        kind: 'GuardrailChain',
        metadata: { name: 'walk-cached' },
        spec: { steps: [{ detector: 'secrets', action: 'redact' }] },
      },
      { cache: new ScanCache(), fingerprintSalt: 'walk-test-salt-0123456789abcdef' },
    );
    const s = gh();
    const first = `the token is ${s.slice(0, 20)}`;
    const second = `${s.slice(20)} and that is all`;
    const user = (content: string) => ({ role: 'user', content });
    const paths = async (...texts: string[]) =>
      (await scanRequest(cached, 'openai.chat', { messages: texts.map(user) })).findings.map((f) =>
        f.parts?.map((p) => p.path).join('+'),
      );
    const split = 'messages[0].content+messages[1].content';
    for (let round = 0; round < 2; round++) {
      assert.deepEqual(await paths(first, second), [split]);
      assert.deepEqual(await paths(first, 'something else entirely'), []);
      assert.deepEqual(await paths(first, second, first, second), [
        split,
        'messages[2].content+messages[3].content',
      ]);
      assert.deepEqual(await paths(first, 'something else entirely', first, second), [
        'messages[2].content+messages[3].content',
      ]);
    }
  });

  test('a secret split across two text blocks', async () => {
    const s = aws();
    const body = {
      messages: [
        {
          role: 'user',
          content: [
            { type: 'text', text: `key ${s.slice(0, 9)}` },
            { type: 'text', text: s.slice(9) },
          ],
        },
      ],
    };
    assert.deepEqual(await found('anthropic.messages', body), [
      'aws_access_key_id@messages[0].content[0].text',
    ]);
  });

  const encoded: [string, (s: string) => string][] = [
    ['base64 in prose', (s) => `here you go: ${Buffer.from(`GITHUB_TOKEN=${s}`).toString('base64')} enjoy`],
    [
      'URL-encoding',
      (s) => `https://x.test/?t=${[...s].map((c) => `%${c.charCodeAt(0).toString(16)}`).join('')}`,
    ],
    [
      'a token hard-wrapped over two lines',
      (s) => `${'word '.repeat(12)}token ${s.slice(0, 17)}\n${s.slice(17)} end`,
    ],
    [
      'zero-width characters inside it',
      (s) => `use ${s.slice(0, 10)}\u200b${s.slice(10, 20)}\u2060${s.slice(20)} now`,
    ],
    ['JSON unicode escapes', (s) => `{"k": "\\u0067\\u0068${s.slice(2)}"}`],
  ];
  for (const [name, hide] of encoded) {
    test(name, async () => {
      const s = gh();
      const text = hide(s);
      const body = { messages: [{ role: 'user', content: text }] };
      const { findings } = await scanRequest(chain, 'openai.chat', body);
      assert.deepEqual(
        findings.map((f) => [f.rule, f.path]),
        [['github_pat', 'messages[0].content']],
      );
      const out = redactRequest('openai.chat', body, findings).messages[0].content;
      assert.ok(out.includes('[REDACTED:github_pat]'), out);
      assert.equal(
        (await scanRequest(chain, 'openai.chat', { messages: [{ role: 'user', content: out }] })).findings
          .length,
        0,
      );
    });
  }

  test('ordinary text makes no normalised finding', async () => {
    const prose = [
      'The quick brown fox jumps over the lazy dog. '.repeat(3),
      'Progress: 100% done, 50%-ish left; path\\/to\\/file and \\u00e9t\\u00e9.',
      'aGVsbG8gd29ybGQsIHRoaXMgaXMgYSBwbGFpbiBiYXNlNjQgc2VudGVuY2Uu',
    ].join('\n');
    assert.deepEqual(await found('openai.chat', { messages: [{ role: 'user', content: prose }] }), []);
  });
});
