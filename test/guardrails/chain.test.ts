import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { Agent } from 'undici';
import {
  compileChain,
  createResponseScanner,
  GuardrailChainError,
  ScanCache,
  scanRequest,
  scanResponse,
} from '../../src/guardrails/index.ts';
import { randomFrom } from './fakes.ts';

const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
const salt = 'chain-test-salt-0123456789';

function chainDoc(steps: unknown[], name = 'test-chain') {
  return { apiVersion: 'portcullis.dev/v1', kind: 'GuardrailChain', metadata: { name }, spec: { steps } };
}

const ghToken = () => `ghp_${randomFrom(ALNUM, 36)}`;

describe('compileChain rejects bad configuration with the step named', () => {
  const cases: [string, unknown[], RegExp][] = [
    [
      'unknown detector',
      [{ detector: 'virus', action: 'block' }],
      /steps\[0\]: detector must be one of secrets, pii, regex, size, external/,
    ],
    [
      'bad action',
      [{ detector: 'secrets', action: 'drop' }],
      /steps\[0\] \(secrets\): \/action must be equal to one of the allowed values: block, redact, log/,
    ],
    [
      'pii without types',
      [
        { detector: 'secrets', action: 'log' },
        { detector: 'pii', action: 'log' },
      ],
      /steps\[1\] \(pii\): must have required property 'types'/,
    ],
    [
      'unknown pii type',
      [{ detector: 'pii', action: 'log', types: ['dna'] }],
      /steps\[0\] \(pii\): \/types\/0 must be equal to one of the allowed values/,
    ],
    [
      'unknown secret rule',
      [{ detector: 'secrets', action: 'block', rules: { include: ['nope_*'] } }],
      /steps\[0\] \(secrets\): no secret rule matches 'nope_\*'/,
    ],
    [
      'size without limits',
      [{ detector: 'size', action: 'block' }],
      /steps\[0\] \(size\): set maxBytes, maxTokens or both/,
    ],
    [
      'literal header value',
      [
        {
          detector: 'external',
          action: 'block',
          url: 'http://127.0.0.1:9/x',
          headers: [{ name: 'authorization', value: 'Bearer abc' }],
        },
      ],
      /steps\[0\] \(external\): \/headers\/0 must NOT have additional properties 'value'/,
    ],
    [
      'non-http url',
      [{ detector: 'external', action: 'block', url: 'file:///etc/passwd' }],
      /steps\[0\] \(external\): \/url must match pattern/,
    ],
    [
      'credentials in the url',
      [{ detector: 'external', action: 'block', url: 'https://svc:hunter2hunter2@guard.internal/scan' }],
      /steps\[0\] \(external\): url must not carry credentials/,
    ],
    [
      'catastrophic regex',
      [
        {
          detector: 'regex',
          action: 'block',
          rules: [
            { name: 'ok', pattern: 'ticket-\\d+' },
            { name: 'nested', pattern: '(a+)+b' },
          ],
        },
      ],
      /steps\[0\] \(regex\): rule 'nested': pattern rejected: it can backtrack exponentially/,
    ],
    [
      'overlapping alternation in a repeat',
      [{ detector: 'regex', action: 'block', rules: [{ name: 'alt', pattern: '(?:\\w|\\d)+x' }] }],
      /rule 'alt': pattern rejected: alternatives '\\w' and '\\d' inside a repeat can start with the same character/,
    ],
    [
      'empty-matching regex',
      [{ detector: 'regex', action: 'log', rules: [{ name: 'empty', pattern: 'a*' }] }],
      /rule 'empty': pattern rejected: it can match the empty string/,
    ],
    [
      'invalid regex',
      [{ detector: 'regex', action: 'log', rules: [{ name: 'broken', pattern: 'a(' }] }],
      /rule 'broken': pattern rejected: not a valid regular expression/,
    ],
    [
      'bad flags',
      [{ detector: 'regex', action: 'log', rules: [{ name: 'f', pattern: 'a', flags: 'gx' }] }],
      /steps\[0\] \(regex\): \/rules\/0\/flags must match pattern/,
    ],
  ];
  for (const [name, steps, message] of cases) {
    test(name, () => {
      assert.throws(
        () => compileChain(chainDoc(steps)),
        (err: unknown) => {
          assert.ok(err instanceof GuardrailChainError);
          assert.match(err.message, /^GuardrailChain test-chain: /);
          assert.match(err.message, message);
          return true;
        },
      );
    });
  }

  test('a document that is not a GuardrailChain', () => {
    assert.throws(
      () =>
        compileChain({ apiVersion: 'portcullis.dev/v1', kind: 'Team', metadata: { name: 'x' }, spec: {} }),
      /GuardrailChain x: \/kind must be equal to constant/,
    );
  });
});

describe('running a chain', () => {
  test('steps run in order with their own actions; a block does not stop later steps', async () => {
    const chain = compileChain(
      chainDoc([
        { detector: 'secrets', action: 'block' },
        { detector: 'pii', action: 'redact', types: ['email'] },
        {
          detector: 'regex',
          action: 'log',
          rules: [{ name: 'ticket_id', pattern: 'TICKET-(?<secret>\\d{4,})' }],
        },
        { detector: 'size', action: 'log', maxBytes: 10 },
      ]),
      { fingerprintSalt: salt, cache: false },
    );
    const token = ghToken();
    const body = {
      messages: [{ role: 'user', content: `token ${token}, mail dana@acme-corp.io about TICKET-12345` }],
    };
    const { findings, errors } = await scanRequest(chain, 'openai.chat', body);
    assert.deepEqual(errors, []);
    assert.deepEqual(
      findings.map((f) => [f.step, f.rule, f.type, f.action, f.path, f.stage, f.chain]),
      [
        [0, 'github_pat', 'secret', 'block', 'messages[0].content', 'request', 'test-chain'],
        [1, 'email', 'pii', 'redact', 'messages[0].content', 'request', 'test-chain'],
        [2, 'ticket_id', 'custom', 'log', 'messages[0].content', 'request', 'test-chain'],
        [3, 'max_bytes', 'size', 'log', '$', 'request', 'test-chain'],
      ],
    );
    const text = body.messages[0].content;
    assert.equal(text.slice(findings[0].start, findings[0].end), token);
    assert.equal(
      text.slice(findings[2].start, findings[2].end),
      '12345',
      'the secret group narrows the span',
    );
    assert.ok(!JSON.stringify(findings).includes(token), 'no finding carries the matched text');
  });

  test('stages: request steps ignore responses and the other way round', async () => {
    const chain = compileChain(
      chainDoc([
        { detector: 'secrets', action: 'block', stage: 'request' },
        { detector: 'pii', action: 'log', stage: 'response', types: ['email'] },
        {
          detector: 'regex',
          action: 'log',
          stage: 'both',
          rules: [{ name: 'codename', pattern: 'Project Nightjar' }],
        },
      ]),
      { fingerprintSalt: salt, cache: false },
    );
    const text = `${ghToken()} dana@acme-corp.io Project Nightjar`;
    const req = await scanRequest(chain, 'anthropic.messages', {
      messages: [{ role: 'user', content: text }],
    });
    assert.deepEqual(
      req.findings.map((f) => f.rule),
      ['github_pat', 'codename'],
    );
    const res = await scanResponse(chain, 'anthropic.messages', { content: [{ type: 'text', text }] });
    assert.deepEqual(
      res.findings.map((f) => [f.rule, f.stage, f.path]),
      [
        ['email', 'response', 'content[0].text'],
        ['codename', 'response', 'content[0].text'],
      ],
    );
  });

  test('token limits are estimated as bytes / 4', async () => {
    const chain = compileChain(chainDoc([{ detector: 'size', action: 'block', maxTokens: 3 }]), {
      cache: false,
    });
    const ok = await scanRequest(chain, 'openai.embeddings', { input: 'twelve bytes' });
    assert.deepEqual(ok.findings, []);
    const over = await scanRequest(chain, 'openai.embeddings', { input: ['twelve bytes', '!'] });
    assert.deepEqual(
      over.findings.map((f) => f.rule),
      ['max_tokens'],
    );
  });

  test('the cache serves unchanged history and gives the same findings', async () => {
    const cache = new ScanCache({ maxEntries: 1000 });
    const chain = compileChain(chainDoc([{ detector: 'secrets', action: 'redact' }]), {
      cache,
      fingerprintSalt: salt,
    });
    const history = [
      { role: 'user', content: `deploy with ${ghToken()}` },
      { role: 'assistant', content: 'Done.' },
    ];
    const first = await scanRequest(chain, 'openai.chat', { messages: structuredClone(history) });
    const misses = cache.stats().misses;
    const next = await scanRequest(chain, 'openai.chat', {
      messages: [...structuredClone(history), { role: 'user', content: 'thanks' }],
    });
    assert.equal(cache.stats().misses - misses, 1, 'only the new message was scanned');
    assert.deepEqual(next.findings, first.findings);
  });

  test('a history resent changed, reordered or with a credential split anew is scanned as it is now', async () => {
    for (const maxEntries of [1000, 3]) {
      const cache = new ScanCache({ maxEntries });
      const chain = compileChain(chainDoc([{ detector: 'secrets', action: 'block' }]), {
        cache,
        fingerprintSalt: salt,
      });
      const token = ghToken();
      const found = async (...contents: string[]) => {
        const body = { messages: contents.map((content) => ({ role: 'user', content })) };
        const r = await scanRequest(chain, 'openai.chat', body);
        return r.findings.map((f) => `${f.rule}@${f.path}${f.parts ? '+' : ''}`);
      };
      const intro = 'Please use the deploy token below for the staging remote.';
      const head = `Here it is: ${token.slice(0, 20)}`;
      const tail = `${token.slice(20)} and that is all.`;
      for (let round = 0; round < 3; round++) {
        assert.deepEqual(await found(intro, 'Thanks.'), [], `cache ${maxEntries}, round ${round}`);
        assert.deepEqual(await found(intro, `It is ${token}.`), ['github_pat@messages[1].content']);
        assert.deepEqual(await found(intro, 'Thanks.'), []);
        assert.deepEqual(await found(head, tail), ['github_pat@messages[0].content+']);
        assert.deepEqual(await found(head, 'Thanks.'), []);
        assert.deepEqual(await found(tail, head), []);
        assert.deepEqual(await found(intro, head, tail), ['github_pat@messages[1].content+']);
      }
    }
  });
});

describe('external guardrail', () => {
  let server: Server;
  let base = '';
  let agent: Agent;
  const seen: { auth?: string; body: unknown }[] = [];

  before(async () => {
    server = createServer((req: IncomingMessage, res: ServerResponse) => {
      let raw = '';
      req.on('data', (c) => {
        raw += c;
      });
      req.on('end', () => {
        const body = JSON.parse(raw);
        seen.push({ auth: req.headers.authorization, body });
        const reply = (status: number, payload: string) => {
          res.writeHead(status, { 'content-type': 'application/json' });
          res.end(payload);
        };
        if (req.url === '/slow') setTimeout(() => reply(200, '{"findings":[]}'), 400);
        else if (req.url === '/error') reply(500, '{"error":"boom"}');
        else if (req.url === '/garbage') reply(200, 'not json');
        else if (req.url === '/unknown-path') reply(200, JSON.stringify({ findings: [{ path: 'nowhere' }] }));
        else {
          const t = body.texts.find((x: { text: string }) => x.text.includes('launch codes'));
          const start = t ? t.text.indexOf('launch codes') : 0;
          reply(
            200,
            JSON.stringify({
              findings: t ? [{ rule: 'classified', path: t.path, start, end: start + 12 }] : [],
            }),
          );
        }
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    agent = new Agent();
  });

  after(async () => {
    await agent.close();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  const external = (path: string, extra: Record<string, unknown> = {}) =>
    compileChain(chainDoc([{ detector: 'external', action: 'block', url: `${base}${path}`, ...extra }]), {
      cache: false,
      dispatcher: agent,
      env: { GUARD_TOKEN: 'Bearer test-guard-token' },
      fingerprintSalt: salt,
    });

  test('sends texts with their paths and maps the answer to findings', async () => {
    const chain = external('/scan', { headers: [{ name: 'authorization', fromEnv: 'GUARD_TOKEN' }] });
    const body = {
      messages: [
        { role: 'user', content: 'hello' },
        {
          role: 'assistant',
          content: null,
          tool_calls: [
            {
              id: 'c1',
              type: 'function',
              function: { name: 'say', arguments: '{"text":"the launch codes are"}' },
            },
          ],
        },
      ],
    };
    const { findings, errors } = await scanRequest(chain, 'openai.chat', body);
    assert.deepEqual(errors, []);
    const call = seen.at(-1)!;
    assert.equal(call.auth, 'Bearer test-guard-token');
    assert.deepEqual((call.body as { texts: unknown }).texts, [
      { path: 'messages[0].content', text: 'hello' },
      { path: 'messages[1].tool_calls[0].id', text: 'c1' },
      { path: 'messages[1].tool_calls[0].function.name', text: 'say' },
      { path: 'messages[1].tool_calls[0].function.arguments.text', text: 'the launch codes are' },
    ]);
    assert.deepEqual(
      findings.map((f) => [f.rule, f.type, f.path, f.start, f.end, f.action]),
      [['classified', 'external', 'messages[1].tool_calls[0].function.arguments.text', 4, 16, 'block']],
    );
  });

  for (const failMode of ['closed', 'open'] as const) {
    test(`timeout with failMode ${failMode}`, async () => {
      const chain = external('/slow', { timeoutMs: 100, failMode });
      const started = Date.now();
      const { findings, errors } = await scanRequest(chain, 'openai.chat', {
        messages: [{ role: 'user', content: 'hi' }],
      });
      assert.ok(Date.now() - started < 390, 'did not wait for the slow answer');
      assert.equal(errors.length, 1);
      assert.match(errors[0].message, /no answer within 100 ms/);
      if (failMode === 'closed') {
        assert.deepEqual(
          findings.map((f) => [f.rule, f.type, f.action, f.path]),
          [['external_unavailable', 'external', 'block', '$']],
        );
      } else {
        assert.deepEqual(findings, []);
      }
    });
  }

  for (const [path, message] of [
    ['/error', /answered HTTP 500/],
    ['/garbage', /answer is not JSON/],
    ['/unknown-path', /path is not a path that was sent/],
  ] as const) {
    test(`a broken answer (${path}) counts as unavailable`, async () => {
      const chain = external(path);
      const { findings, errors } = await scanRequest(chain, 'openai.chat', {
        messages: [{ role: 'user', content: 'hi' }],
      });
      assert.match(errors[0].message, message);
      assert.equal(findings[0].rule, 'external_unavailable');
    });
  }

  test('a header whose variable is unset fails without naming a value', async () => {
    const chain = external('/scan', {
      headers: [{ name: 'x-key', fromEnv: 'MISSING_VAR' }],
      failMode: 'open',
    });
    const { findings, errors } = await scanRequest(chain, 'openai.chat', {
      messages: [{ role: 'user', content: 'hi' }],
    });
    assert.deepEqual(findings, []);
    assert.match(errors[0].message, /environment variable MISSING_VAR is not set/);
  });

  test('a streamed answer is held whole until a blocking external step has judged it', async () => {
    const step = { detector: 'external', stage: 'response', url: `${base}/scan` };
    const compile = (action: string) =>
      compileChain(chainDoc([{ ...step, action }]), {
        cache: false,
        dispatcher: agent,
        fingerprintSalt: salt,
      });
    const blocking = createResponseScanner(compile('block'), 'openai.chat');
    const path = 'choices[0].message.content';
    for (const piece of ['The answer is ', 'simple: the ', 'launch codes', ' stay secret.'])
      blocking.push(path, piece);
    assert.equal(blocking.releasableTo(path), 0, 'nothing goes out before the verdict');
    const { findings } = await blocking.end();
    assert.deepEqual(
      findings.map((f) => f.rule),
      ['classified'],
    );
    // A step that only logs cannot stop the answer, so it holds nothing back.
    const logging = createResponseScanner(compile('log'), 'openai.chat');
    logging.push(path, 'The answer is simple. ');
    assert.equal(logging.releasableTo(path), 'The answer is simple. '.length);
    await logging.end();
  });
});

test('accepts the policy loader’s documents and names their file in errors', () => {
  const location = { file: 'policies/guardrails/default.yaml', line: 1, column: 1 };
  const ok = compileChain(
    { ...chainDoc([{ detector: 'secrets', action: 'block' }]), location },
    { cache: false },
  );
  assert.equal(ok.name, 'test-chain');
  assert.throws(
    () => compileChain({ ...chainDoc([{ detector: 'size', action: 'block' }]), location }),
    (err: unknown) =>
      err instanceof GuardrailChainError &&
      err.step === 0 &&
      err.message.startsWith(
        'GuardrailChain test-chain (policies/guardrails/default.yaml:1): steps[0] (size)',
      ),
  );
});
