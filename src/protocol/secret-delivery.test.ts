import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AgentMessageSchema, ServerMessageSchema } from './agent.js';
import {
  CreateSecretDeliverySchema,
  NodeLabelsPatchSchema,
  SECRET_DELIVERY_LIMITS,
  SecretPathSchema,
  destinationProblem,
  formatFileMode,
  parseFileMode,
  type ManifestItem,
} from './secret-delivery.js';

const ID = 'sdl_abcdefghijklmnop';
const SHA = 'a'.repeat(64);
const item = (over: Partial<ManifestItem> = {}): ManifestItem => ({ deliveryId: ID, path: 'app/db-password', version: 1, dest: '/etc/app/db-password', mode: 0o400, sha256: SHA, ...over });

test('the secret messages are part of the channel, each in its direction', () => {
  assert.equal(ServerMessageSchema.safeParse({ type: 'secrets_manifest', items: [item({ owner: 'app', group: 'app' })] }).success, true);
  assert.equal(ServerMessageSchema.safeParse({ type: 'secret_value', requestId: 'r1', deliveryId: ID, version: 3, value: Buffer.from('x').toString('base64') }).success, true);
  assert.equal(AgentMessageSchema.safeParse({ type: 'secret_fetch', requestId: 'r1', deliveryId: ID, version: 3 }).success, true);
  assert.equal(AgentMessageSchema.safeParse({ type: 'secret_status', items: [{ deliveryId: ID, version: 3, state: 'error', error: 'why' }] }).success, true);
  // Each only one way.
  assert.equal(AgentMessageSchema.safeParse({ type: 'secrets_manifest', items: [] }).success, false);
  assert.equal(ServerMessageSchema.safeParse({ type: 'secret_fetch', requestId: 'r1', deliveryId: ID, version: 3 }).success, false);
});

test('a manifest is bounded and its items are checked field by field', () => {
  const manifest = (items: unknown[]) => ServerMessageSchema.safeParse({ type: 'secrets_manifest', items }).success;
  assert.equal(manifest([]), true, 'an empty manifest says: hold nothing');
  assert.equal(manifest(Array.from({ length: SECRET_DELIVERY_LIMITS.maxItemsPerNode + 1 }, (_, i) => item({ deliveryId: `sdl_${'a'.repeat(15)}${'abcdefghijklmnopqrstuvwxyz'[i % 26]}` }))), false);
  assert.equal(manifest([item(), item()]), false, 'delivery ids are unique');
  assert.equal(manifest([item({ dest: 'etc/app/x' })]), false, 'relative destination');
  assert.equal(manifest([item({ dest: '/etc/../etc/shadow' })]), false, 'non-normalised destination');
  assert.equal(manifest([item({ mode: 0o4755 })]), false, 'setuid');
  assert.equal(manifest([item({ mode: 0o666 })]), false, 'writable by others');
  assert.equal(manifest([item({ owner: 'a b' })]), false);
  assert.equal(manifest([item({ owner: '1000' })]), true);
  assert.equal(manifest([item({ sha256: 'A'.repeat(64) })]), false);
  assert.equal(manifest([item({ deliveryId: 'sdl_x' })]), false);
  assert.equal(manifest([item({ version: 0 })]), false);
});

test('values are base64 of at most 64 KiB; statuses are bounded', () => {
  const value = (v: string) => ServerMessageSchema.safeParse({ type: 'secret_value', requestId: 'r', deliveryId: ID, version: 1, value: v }).success;
  assert.equal(value(Buffer.alloc(SECRET_DELIVERY_LIMITS.maxValueBytes).toString('base64')), true);
  assert.equal(value(Buffer.alloc(SECRET_DELIVERY_LIMITS.maxValueBytes + 3).toString('base64')), false);
  assert.equal(value('not base64!'), false);
  const status = (items: unknown[]) => AgentMessageSchema.safeParse({ type: 'secret_status', items }).success;
  assert.equal(status([]), false);
  assert.equal(status([{ deliveryId: ID, version: 1, state: 'lost' }]), false);
  assert.equal(status([{ deliveryId: ID, version: 1, state: 'error', error: 'x'.repeat(SECRET_DELIVERY_LIMITS.maxErrorLength + 1) }]), false);
  assert.equal(AgentMessageSchema.safeParse({ type: 'secret_fetch', requestId: 'r'.repeat(65), deliveryId: ID, version: 1 }).success, false);
});

test('destinations, modes and secret paths', () => {
  assert.equal(destinationProblem('/etc/app/db-password'), undefined);
  assert.match(destinationProblem('/etc/app/') ?? '', /file, not a directory/);
  assert.match(destinationProblem('/etc/./app') ?? '', /normalised/);
  assert.match(destinationProblem(`/etc/${'x'.repeat(256)}`) ?? '', /longer than 255/);
  assert.equal(parseFileMode('0400'), 0o400);
  assert.equal(parseFileMode('640'), 0o640);
  assert.equal(parseFileMode('0800'), undefined);
  assert.equal(parseFileMode('04755'), undefined);
  assert.equal(formatFileMode(0o400), '0400');
  assert.equal(formatFileMode(0o44), '0044');
  for (const p of ['app/db-password', 'app/.env', 'a.b/c_d-e']) assert.equal(SecretPathSchema.safeParse(p).success, true, p);
  for (const p of ['', '/app', 'app/', 'a//b', 'a/../b', '..', 'a b']) assert.equal(SecretPathSchema.safeParse(p).success, false, p);
});

test('API bodies: a delivery, and a label patch', () => {
  assert.equal(CreateSecretDeliverySchema.safeParse({ path: 'app/db', selector: 'role=db', dest: '/etc/app/db', mode: '0400', owner: 'app' }).success, true);
  assert.equal(CreateSecretDeliverySchema.safeParse({ path: 'app/db', selector: 'role=db', dest: '/etc/app/db', mode: '0400', extra: 1 }).success, false);
  assert.equal(CreateSecretDeliverySchema.safeParse({ path: 'app/db', selector: 'role=db', dest: '/etc/app/db', mode: 'rw' }).success, false);
  assert.deepEqual(NodeLabelsPatchSchema.parse({ set: { role: 'db' } }), { set: { role: 'db' }, remove: [] });
  assert.equal(NodeLabelsPatchSchema.safeParse({}).success, false, 'a patch changes something');
  assert.equal(NodeLabelsPatchSchema.safeParse({ remove: ['role'], other: 1 }).success, false);
});
