// Which agent tools a call may not use, for the response guard: the tools the decision stripped plus
// whatever the key's tool scope denies, on tool surfaces only.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { deniedToolsFor } from '../../../src/gateway/plugins/tool-scope.ts';
import type { PolicyDocument, ResolvedKey } from '../../../src/policy/snapshot.ts';
import { fakeSnapshot } from '../fake-snapshot.ts';
import { ALLOW, testCall } from './call-fixture.ts';

function scoped(agentTools: { allow?: string[]; deny?: string[] }) {
  const snapshot = fakeSnapshot({ upstream: 'http://127.0.0.1:9' });
  const scope = {
    apiVersion: 'portcullis.dev/v1',
    kind: 'ToolScope',
    metadata: { name: 'unit' },
    spec: { agentTools },
  } as unknown as PolicyDocument;
  (snapshot as { documents: unknown }).documents = new Map([['ToolScope', new Map([['unit', scope]])]]);
  const key: ResolvedKey = { ...snapshot.keys.get('good')!, toolScope: 'unit' };
  return { snapshot, key };
}

describe('tool scope', () => {
  test('nothing to watch without stripped tools or a scope', () => {
    const call = testCall({ snapshot: fakeSnapshot({ upstream: 'http://127.0.0.1:9' }) });
    call.decision = ALLOW;
    assert.equal(deniedToolsFor(call), undefined);
  });

  test('the tools the decision stripped are denied', () => {
    const call = testCall({ snapshot: fakeSnapshot({ upstream: 'http://127.0.0.1:9' }) });
    call.decision = { ...ALLOW, stripTools: ['Bash'] };
    const denied = deniedToolsFor(call)!;
    assert.equal(denied('Bash'), true);
    assert.equal(denied('Read'), false);
  });

  test('the scope denies by pattern, and by not matching its allow list', () => {
    const { snapshot, key } = scoped({ allow: ['Read', 'Grep*'], deny: ['Grep_all'] });
    const call = testCall({ snapshot, key });
    call.decision = { ...ALLOW, stripTools: ['Write'] };
    const denied = deniedToolsFor(call)!;
    assert.equal(denied('Read'), false);
    assert.equal(denied('GrepFiles'), false);
    assert.equal(denied('Grep_all'), true);
    assert.equal(denied('Bash'), true, 'not in the allow list');
    assert.equal(denied('Write'), true, 'stripped by the decision');
  });

  test('surfaces without tools (embeddings, token counts) are never watched', () => {
    const { snapshot, key } = scoped({ deny: ['Bash'] });
    const call = testCall({
      snapshot,
      key,
      surface: 'openai.embeddings',
      api: 'openai',
      body: { model: 'text-embedding-3-small', input: 'x' },
    });
    call.decision = ALLOW;
    assert.equal(deniedToolsFor(call), undefined);
  });
});
