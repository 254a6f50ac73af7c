import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AGENT_CONFIG_FILE, loadAgentConfig, resolveExecPolicy, resolveRestoreDirs } from './config.js';

async function withConfig<T>(text: string | undefined, fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'bulwark-agent-config-'));
  try {
    if (text !== undefined) await writeFile(join(dir, AGENT_CONFIG_FILE), text);
    return await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

describe('agent config.yaml', () => {
  it('is optional: no file, or an empty one, means exec off', async () => {
    for (const text of [undefined, '', '# nothing\n']) {
      const config = await withConfig(text, loadAgentConfig);
      assert.deepEqual(resolveExecPolicy(config, {}), { enabled: false, allow: [] }, String(text));
    }
  });

  it('reads exec.enabled and exec.allow', async () => {
    const config = await withConfig('exec:\n  enabled: true\n  allow: ["uptime", "systemctl status *"]\n', loadAgentConfig);
    assert.deepEqual(resolveExecPolicy(config, {}), { enabled: true, allow: ['uptime', 'systemctl status *'] });
  });

  it('reads backup.restore_dirs (none by default) and refuses a relative one', async () => {
    assert.deepEqual(resolveRestoreDirs(await withConfig(undefined, loadAgentConfig)), []);
    assert.deepEqual(resolveRestoreDirs(await withConfig('backup:\n  restore_dirs: [/restore, /etc/app]\n', loadAgentConfig)), ['/restore', '/etc/app']);
    await assert.rejects(withConfig('backup:\n  restore_dirs: [restore]\n', loadAgentConfig), { code: 'CONFIG_INVALID' });
  });

  it('flags override the file: --enable-exec turns it on, --exec-allow replaces the list', async () => {
    const config = await withConfig('exec:\n  enabled: false\n  allow: ["uptime"]\n', loadAgentConfig);
    assert.deepEqual(resolveExecPolicy(config, { enableExec: true }), { enabled: true, allow: ['uptime'] });
    assert.deepEqual(resolveExecPolicy(config, { enableExec: true, execAllow: ['df -h'] }), { enabled: true, allow: ['df -h'] });
    assert.deepEqual(resolveExecPolicy({}, { execAllow: ['df -h'] }), { enabled: false, allow: ['df -h'] }, 'an allow-list alone enables nothing');
  });

  it('refuses unknown keys, wrong types and bad YAML with CONFIG_INVALID naming the file', async () => {
    for (const text of ['exec:\n  enabeld: true\n', 'exec:\n  enabled: "yes"\n', 'exec: [\n', 'other: 1\n', 'exec:\n  allow: "uptime"\n']) {
      await withConfig(text, async (dir) => {
        await assert.rejects(loadAgentConfig(dir), (err: Error & { code?: string }) => {
          assert.equal(err.code, 'CONFIG_INVALID', text);
          assert.ok(err.message.includes(AGENT_CONFIG_FILE), err.message);
          return true;
        });
      });
    }
  });
});
