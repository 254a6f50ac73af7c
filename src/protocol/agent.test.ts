import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AgentMessageSchema, CLOSE_CODES, ServerMessageSchema, SUPPORTED_PROTOCOL_VERSIONS, negotiateProtocol } from './agent.js';

test('negotiateProtocol picks the highest version both sides speak', () => {
  assert.equal(negotiateProtocol([1], [1]), 1);
  assert.equal(negotiateProtocol([1, 2, 3], [1, 2]), 2);
  assert.equal(negotiateProtocol([1, 2], [1, 2, 3]), 2);
  assert.equal(negotiateProtocol([3, 1, 2], [2, 3, 1]), 3); // order does not matter
  assert.equal(negotiateProtocol([1, 1, 2, 2], [2]), 2); // repeats do not matter
  assert.equal(negotiateProtocol([1, 5], [2, 5, 9]), 5); // gaps do not matter
});

test('negotiateProtocol is undefined when the sides share no version', () => {
  assert.equal(negotiateProtocol([2, 3], [1]), undefined);
  assert.equal(negotiateProtocol([], [1]), undefined);
  assert.equal(negotiateProtocol([1], []), undefined);
});

test('negotiateProtocol defaults to the versions this build speaks', () => {
  assert.deepEqual([...SUPPORTED_PROTOCOL_VERSIONS], [1]);
  assert.equal(negotiateProtocol([1]), 1);
  assert.equal(negotiateProtocol([1, 2]), 1);
  assert.equal(negotiateProtocol([2]), undefined);
});

test('agent messages are told apart by type and checked strictly', () => {
  assert.equal(AgentMessageSchema.safeParse({ type: 'hello', protocolVersions: [1], agentVersion: '0.1.0' }).success, true);
  assert.equal(AgentMessageSchema.safeParse({ type: 'heartbeat', seq: 0, sentAt: 1 }).success, true);
  assert.equal(AgentMessageSchema.safeParse({ type: 'hello', protocolVersions: [], agentVersion: '0.1.0' }).success, false);
  assert.equal(AgentMessageSchema.safeParse({ type: 'hello', protocolVersions: [0], agentVersion: '0.1.0' }).success, false);
  assert.equal(AgentMessageSchema.safeParse({ type: 'heartbeat', seq: -1, sentAt: 1 }).success, false);
  assert.equal(AgentMessageSchema.safeParse({ type: 'renew', requestId: 'r', csr: '' }).success, false);
  assert.equal(AgentMessageSchema.safeParse({ type: 'welcome' }).success, false); // a server message
});

test('server error messages say whether they are fatal', () => {
  const parsed = ServerMessageSchema.parse({ type: 'error', code: 'NODE_REMOVED', message: 'removed', fatal: true });
  assert.deepEqual(parsed, { type: 'error', code: 'NODE_REMOVED', message: 'removed', fatal: true });
  assert.equal(ServerMessageSchema.safeParse({ type: 'error', code: 'X', message: 'm' }).success, false);
});

test('application close codes are distinct and in the private range 4000–4999', () => {
  const { shutdown, ...application } = CLOSE_CODES;
  assert.equal(shutdown, 1001); // "going away"
  const codes = Object.values(application);
  assert.equal(new Set(codes).size, codes.length);
  for (const code of codes) assert.ok(code >= 4000 && code <= 4999, String(code));
});
