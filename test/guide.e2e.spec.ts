import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createUser, type TestUser } from './helpers/app.js';
import { createTestDatabase, type TestDatabase } from './helpers/database.js';
import { freePort } from './helpers/ports.js';
import { startService, waitForReady, type ServiceProcess } from './helpers/process.js';

/**
 * The integration guide, followed as a new user would: its JavaScript (and use case 1's Python)
 * code blocks are written to files as printed and run against a real instance — use case 1 (submit a job, poll,
 * read the result) and use case 3 (register a webhook, run the guide's receiver, verify every
 * delivery's signature). The only changes are what the guide tells the reader to change: the key
 * and secret (environment variables the code reads), the receiver's URL and its port.
 */
const GUIDE = path.resolve('docs/API_INTEGRATION_GUIDE.md');

/** The fenced blocks of `lang` under the heading that starts with `section`, then `sub` below it. */
async function blocks(section: string, sub: string, lang: string): Promise<string[]> {
  const text = await readFile(GUIDE, 'utf8');
  const start = text.indexOf(`\n## ${section}`);
  expect(start, `section "${section}"`).toBeGreaterThan(-1);
  const end = text.indexOf('\n## ', start + 1);
  const part = text.slice(start, end === -1 ? undefined : end);
  const subStart = part.indexOf(`\n### ${sub}`);
  expect(subStart, `subsection "${sub}"`).toBeGreaterThan(-1);
  const subEnd = part.indexOf('\n### ', subStart + 1);
  const body = part.slice(subStart, subEnd === -1 ? undefined : subEnd);
  return [...body.matchAll(new RegExp('```' + lang + '\\n([\\s\\S]*?)```', 'g'))].map((m) => m[1]);
}

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function node(file: string, env: Record<string, string>, timeoutMs = 60_000): Promise<Run> {
  return run(process.execPath, file, env, timeoutMs);
}

function run(command: string, file: string, env: Record<string, string>, timeoutMs = 60_000): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, [file], { cwd: path.dirname(file), env: { ...process.env, ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

describe('the integration guide, followed as written', () => {
  let db: TestDatabase;
  let service: ServiceProcess;
  let user: TestUser;
  let dir: string;
  let env: Record<string, string>;

  beforeAll(async () => {
    db = await createTestDatabase();
    user = await createUser(db);
    const port = await freePort();
    // As the guide says for a receiver on your own machine.
    service = startService({
      DATABASE_URL: db.url,
      PORT: String(port),
      HOST: '127.0.0.1',
      WEBHOOK_ALLOW_HTTP: 'true',
      WEBHOOK_ALLOWED_CIDRS: '127.0.0.0/8',
      WEBHOOK_RETRY_SCHEDULE: '1s,1s,1s',
      LOG_LEVEL: 'warn',
    });
    await waitForReady(port, service);
    dir = await mkdtemp(path.join(tmpdir(), 'conveyor-guide-'));
    env = { CONVEYOR_URL: `http://127.0.0.1:${port}/api/v1`, CONVEYOR_KEY: user.key };
    const [helper] = await blocks('2. Use case 1', 'JavaScript', 'js');
    await writeFile(path.join(dir, 'conveyor.mjs'), helper);
  }, 120_000);

  afterAll(async () => {
    service?.child.kill('SIGTERM');
    await service?.exited;
    if (dir) await rm(dir, { recursive: true, force: true });
    await db?.drop();
  });

  it('use case 1: submits a job, polls it and prints its output', async () => {
    const [, job] = await blocks('2. Use case 1', 'JavaScript', 'js');
    await writeFile(path.join(dir, 'job.mjs'), job);
    const run = await node(path.join(dir, 'job.mjs'), env);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^job [0-9a-f-]{36} queued$/m);
    // sha256("hello")
    expect(run.stdout).toContain('2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824');
  });

  it('use case 1 in Python (requests): the same, with the guide’s conveyor.py', async () => {
    const [helper, job] = await blocks('2. Use case 1', 'Python', 'python');
    await writeFile(path.join(dir, 'conveyor.py'), helper);
    await writeFile(path.join(dir, 'job.py'), job);
    const ran = await run('python3', path.join(dir, 'job.py'), env);
    expect(ran.stderr).toBe('');
    expect(ran.code).toBe(0);
    expect(ran.stdout).toContain('2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824');
  });

  it('use case 3: the guide’s receiver verifies the test event and a job.completed; a forged one is refused', async () => {
    const [register] = await blocks('4. Use case 3', 'Register the endpoint', 'js');
    const [verify, receiver] = await blocks('4. Use case 3', 'JavaScript (node:crypto)', 'js');
    const receiverPort = await freePort();
    // What the guide says to register for a receiver on this machine, on a port that is free here.
    expect(register).toContain("url: 'https://example.com/conveyor/webhooks'");
    await writeFile(
      path.join(dir, 'register.mjs'),
      register.replace("url: 'https://example.com/conveyor/webhooks'", `url: 'http://127.0.0.1:${receiverPort}/'`),
    );
    expect(receiver).toContain("listen(9000, '127.0.0.1')");
    await writeFile(path.join(dir, 'conveyor-webhooks.mjs'), verify);
    await writeFile(path.join(dir, 'receiver.mjs'), receiver.replace('listen(9000,', `listen(${receiverPort},`));

    const registered = await node(path.join(dir, 'register.mjs'), env);
    expect(registered.stderr).toBe('');
    expect(registered.code).toBe(0);
    const secret = /store this secret: (whsec_\S+)/.exec(registered.stdout)?.[1];
    expect(secret).toBeDefined();

    // The receiver starts after the test event was sent: the delivery is retried until it answers.
    const child = spawn(process.execPath, [path.join(dir, 'receiver.mjs')], {
      cwd: dir,
      env: { ...process.env, CONVEYOR_WEBHOOK_SECRET: secret! },
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    try {
      await expect.poll(() => out, { timeout: 30_000, interval: 100 }).toMatch(/^webhook\.test /m);
      const [, job] = await blocks('2. Use case 1', 'JavaScript', 'js');
      await writeFile(path.join(dir, 'job.mjs'), job);
      expect((await node(path.join(dir, 'job.mjs'), env)).code).toBe(0);
      await expect.poll(() => out, { timeout: 30_000, interval: 100 }).toMatch(/^job\.completed \{.*"hex"/m);
      // A delivery with a wrong signature is refused by the guide's code.
      const forged = await fetch(`http://127.0.0.1:${receiverPort}/`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'webhook-id': 'evt_forged',
          'webhook-timestamp': String(Math.floor(Date.now() / 1000)),
          'webhook-signature': 'v1,' + Buffer.alloc(32).toString('base64'),
        },
        body: JSON.stringify({ id: 'evt_forged', type: 'job.completed', data: {} }),
      });
      expect(forged.status).toBe(400);
      expect(out).not.toContain('evt_forged');
    } finally {
      child.kill('SIGTERM');
    }
  });
});
