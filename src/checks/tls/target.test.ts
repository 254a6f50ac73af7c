import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BulwarkError } from '../../core/errors.js';
import { formatTarget, parseTarget, serverNameOf, validateTarget } from './target.js';

test('parseTarget reads host:port, IPv4 and bracketed IPv6', () => {
  assert.deepEqual(parseTarget('example.com:443'), { host: 'example.com', port: 443 });
  assert.deepEqual(parseTarget(' 10.0.0.1:8443 '), { host: '10.0.0.1', port: 8443 });
  assert.deepEqual(parseTarget('[::1]:443'), { host: '::1', port: 443 });
  assert.deepEqual(parseTarget('[2001:db8::1]:636'), { host: '2001:db8::1', port: 636 });
  assert.deepEqual(parseTarget('localhost:1'), { host: 'localhost', port: 1 });
  assert.deepEqual(parseTarget('db_1.internal:65535'), { host: 'db_1.internal', port: 65535 });
});

test('parseTarget refuses anything else with INVALID_TARGET', () => {
  for (const bad of ['example.com', 'example.com:', ':443', 'example.com:0', 'example.com:65536', 'example.com:44a', '::1:443', '[::1]443', '[example.com]:443', 'exa mple.com:443', 'a..b:443', '-a.com:443', `${'a'.repeat(64)}.com:443`, 'https://example.com:443']) {
    assert.throws(() => parseTarget(bad), (err: unknown) => err instanceof BulwarkError && err.code === 'INVALID_TARGET', bad);
  }
});

test('validateTarget checks object targets and their server name', () => {
  assert.deepEqual(validateTarget({ host: '127.0.0.1', port: 443, serverName: 'web.test' }), { host: '127.0.0.1', port: 443, serverName: 'web.test' });
  for (const bad of [{ host: 'x', port: 1.5 }, { host: '', port: 443 }, { host: 'x', port: 443, serverName: '10.0.0.1' }, { host: 'x', port: 443, serverName: 'a b' }]) {
    assert.throws(() => validateTarget(bad), (err: unknown) => err instanceof BulwarkError && err.code === 'INVALID_TARGET', JSON.stringify(bad));
  }
});

test('formatTarget brackets IPv6; SNI is the server name or a DNS host, never an IP', () => {
  assert.equal(formatTarget({ host: '::1', port: 443 }), '[::1]:443');
  assert.equal(formatTarget({ host: 'web.test', port: 443 }), 'web.test:443');
  assert.equal(serverNameOf({ host: '127.0.0.1', port: 443 }), undefined);
  assert.equal(serverNameOf({ host: '127.0.0.1', port: 443, serverName: 'Web.Test.' }), 'web.test');
  assert.equal(serverNameOf({ host: 'Example.COM', port: 443 }), 'example.com');
});
