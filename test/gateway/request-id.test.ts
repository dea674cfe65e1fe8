import assert from 'node:assert/strict';
import { test } from 'node:test';
import { timeOrderedId } from '../../src/gateway/request-id.ts';

const V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

test('generated request ids are UUIDv7 carrying the time, unique and in creation order', () => {
  const ids = Array.from({ length: 10_000 }, () => timeOrderedId());
  for (const id of ids) assert.match(id, V7);
  assert.equal(new Set(ids).size, ids.length);
  const sorted = [...ids].sort();
  assert.deepEqual(sorted, ids, 'ids sort in the order they were made (audit index locality)');
  const ms = Number.parseInt(ids[0].replace('-', '').slice(0, 12), 16);
  assert.ok(Math.abs(ms - Date.now()) < 60_000, 'the first 48 bits are the Unix time in ms');
});

test('ids stay ordered when the clock steps back or a millisecond has more than 4096 ids', () => {
  const t = Date.now() + 3_600_000;
  const ids = [timeOrderedId(t)];
  for (let i = 0; i < 5000; i++) ids.push(timeOrderedId(t));
  ids.push(timeOrderedId(t - 10_000));
  assert.deepEqual([...ids].sort(), ids);
  assert.equal(new Set(ids).size, ids.length);
});
