import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from './helpers/ports.js';
import { startService, waitForReady } from './helpers/process.js';

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('npm start on the embedded default', () => {
  let dataDir: string;

  beforeAll(async () => {
    dataDir = await mkdtemp(path.join(tmpdir(), 'conveyor-start-'));
    // When tests run as root, PostgreSQL runs as the postgres user and must reach its data dir.
    await chmod(dataDir, 0o755);
  });
  afterAll(async () => rm(dataDir, { recursive: true, force: true }));

  it('starts an embedded PostgreSQL, prints an admin key once, stops cleanly on Ctrl-C, and reuses its data', async () => {
    const port = await freePort();
    const env = {
      PORT: String(port),
      HOST: '127.0.0.1',
      EMBEDDED_PG_DATA_DIR: path.join(dataDir, 'pg'),
      EMBEDDED_PG_PORT: String(await freePort()),
      LOG_LEVEL: 'info',
    };

    const first = startService(env);
    await waitForReady(port, first);
    const key = /(cvk_[A-Za-z0-9_-]{43})/.exec(first.output())?.[1];
    expect(key, first.output()).toBeDefined();
    // The key appears exactly once: in the banner, never in a log line.
    expect(first.output().split(key!).length - 1).toBe(1);

    expect((await fetch(`http://127.0.0.1:${port}/docs`)).status).toBe(200);
    const me = await fetch(`http://127.0.0.1:${port}/api/v1/me`, { headers: { authorization: `Bearer ${key}` } });
    expect(me.status).toBe(200);
    expect(await me.json()).toMatchObject({ role: 'admin' });

    const pgPid = Number(/"pid":(\d+)[^\n]*embedded PostgreSQL started/.exec(first.output())?.[1]);
    expect(processAlive(pgPid)).toBe(true);
    first.child.kill('SIGINT');
    expect(await first.exited).toBe(0);
    expect(processAlive(pgPid)).toBe(false);

    const second = startService(env);
    await waitForReady(port, second);
    expect(second.output()).not.toMatch(/cvk_[A-Za-z0-9_-]{43}/);
    const again = await fetch(`http://127.0.0.1:${port}/api/v1/me`, { headers: { authorization: `Bearer ${key}` } });
    expect(again.status).toBe(200);
    second.child.kill('SIGTERM');
    expect(await second.exited).toBe(0);
  });

  it('a bad configuration value stops the process with a message naming the variable', async () => {
    const bad = startService({ PORT: 'eighty', ROLE: 'boss' });
    expect(await bad.exited).toBe(1);
    expect(bad.output()).toContain('PORT');
    expect(bad.output()).toContain('ROLE');
  });

  it('ADMIN_API_KEY becomes the admin’s key', async () => {
    const port = await freePort();
    const adminKey = 'my-own-admin-key-0123456789abcdefghijklmnop';
    const started = startService({
      PORT: String(port),
      HOST: '127.0.0.1',
      EMBEDDED_PG_DATA_DIR: path.join(dataDir, 'pg-admin-key'),
      EMBEDDED_PG_PORT: String(await freePort()),
      ADMIN_API_KEY: adminKey,
    });
    try {
      await waitForReady(port, started);
      expect(started.output()).not.toMatch(/cvk_[A-Za-z0-9_-]{43}/);
      expect(started.output()).not.toContain(adminKey);
      const users = await fetch(`http://127.0.0.1:${port}/api/v1/admin/users`, {
        headers: { authorization: `Bearer ${adminKey}` },
      });
      expect(users.status).toBe(200);
    } finally {
      started.child.kill('SIGTERM');
      expect(await started.exited).toBe(0);
    }
  });
});
