import { spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createUser, type TestUser } from './helpers/app.js';
import { createTestDatabase, type TestDatabase } from './helpers/database.js';
import { freePort } from './helpers/ports.js';
import { startService, waitForReady, type ServiceProcess } from './helpers/process.js';
import { ValidatingProxy } from './helpers/validating-proxy.js';

/**
 * The integration guide, followed as a new user would, against a real instance: the cURL quick
 * start (with the admin key the service prints at its first start), and the code blocks of the
 * three use cases written to files as printed and run — use case 1 (submit a job, poll, read the
 * result) in JavaScript, Python and cURL; use case 2 (an NDJSON batch, its results as CSV and JSON
 * Lines) in all three; use case 3 (register a webhook, run the guide's receiver, verify every
 * delivery's signature). The only changes are what the guide tells the reader to change: the base
 * URL, key and secret (environment variables the code reads), the ids its sample output shows,
 * the receiver's URL and its port. Every answer goes through a validating proxy (the last test).
 */
const GUIDE = path.resolve('docs/API_INTEGRATION_GUIDE.md');

/**
 * The fenced blocks of `lang` under the heading that starts with `section`, then `sub` below it
 * (`sub` null: the section's own blocks, before its first subsection).
 */
async function blocks(section: string, sub: string | null, lang: string): Promise<string[]> {
  const text = await readFile(GUIDE, 'utf8');
  const start = text.indexOf(`\n## ${section}`);
  expect(start, `section "${section}"`).toBeGreaterThan(-1);
  const end = text.indexOf('\n## ', start + 1);
  const part = text.slice(start, end === -1 ? undefined : end);
  let body: string;
  if (sub === null) {
    const first = part.indexOf('\n### ');
    body = part.slice(0, first === -1 ? undefined : first);
  } else {
    const subStart = part.indexOf(`\n### ${sub}`);
    expect(subStart, `subsection "${sub}"`).toBeGreaterThan(-1);
    const subEnd = part.indexOf('\n### ', subStart + 1);
    body = part.slice(subStart, subEnd === -1 ? undefined : subEnd);
  }
  return [...body.matchAll(new RegExp('```' + lang + '\\n([\\s\\S]*?)```', 'g'))].map((m) => m[1]);
}

/**
 * A shell block's commands as a reader types them: continuation lines joined, comment lines
 * dropped, and the variables the guide tells the reader to set (`BASE=`, `ADMIN=`, `KEY=`) left to
 * the environment.
 */
function commands(block: string): string[] {
  return block
    .replace(/\\\n\s*/g, ' ')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#') && !/^(BASE|ADMIN|KEY)=/.test(line));
}

/** One shell command through bash, with its HTTP status (curl's -w) split from its output. */
async function curl(command: string, env: Record<string, string>, cwd: string): Promise<{ status: number; body: any }> {
  expect(command).toMatch(/^curl /);
  const withoutComment = command.replace(/\s+#.*$/, '');
  // HOME: the reader's own ~/.curlrc must not change what the guide's command does here.
  const ran = await run('bash', ['-c', `${withoutComment} -w '\\n%{http_code}'`], cwd, { ...env, HOME: cwd });
  expect(ran.stderr).toBe('');
  expect(ran.code).toBe(0);
  const newline = ran.stdout.lastIndexOf('\n');
  const text = ran.stdout.slice(0, newline);
  return { status: Number(ran.stdout.slice(newline + 1)), body: text ? JSON.parse(text) : undefined };
}

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function node(file: string, env: Record<string, string>, timeoutMs = 60_000): Promise<Run> {
  return run(process.execPath, [file], path.dirname(file), env, timeoutMs);
}

function run(
  command: string,
  args: string[],
  cwd: string,
  env: Record<string, string>,
  timeoutMs = 60_000,
): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd, env: { ...process.env, ...env } });
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
  let proxy: ValidatingProxy;

  beforeAll(async () => {
    db = await createTestDatabase();
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
    // After the start: on an empty database the service prints its admin key (the quick start's step 1).
    user = await createUser(db);
    dir = await mkdtemp(path.join(tmpdir(), 'conveyor-guide-'));
    // The guide's programs talk to the service through a validating proxy (the last test).
    proxy = await ValidatingProxy.start(`http://127.0.0.1:${port}`);
    env = { CONVEYOR_URL: `${proxy.url}/api/v1`, CONVEYOR_KEY: user.key };
    const [helper] = await blocks('2. Use case 1', 'JavaScript', 'js');
    await writeFile(path.join(dir, 'conveyor.mjs'), helper);
  }, 120_000);

  afterAll(async () => {
    await proxy?.close();
    service?.child.kill('SIGTERM');
    await service?.exited;
    if (dir) await rm(dir, { recursive: true, force: true });
    await db?.drop();
  });

  it('quick start (cURL): the printed admin key makes a user and a key, which submits a job, reads its result and registers a webhook', async () => {
    const admin = /Conveyor admin API key \(shown once, store it now\):\s+(cvk_\S+)/.exec(service.output())?.[1];
    expect(admin, 'the admin key printed at the first start').toBeDefined();
    const [step1, step2, step3, webhook] = (await blocks('1. Quick start', null, 'sh')).map(commands);
    const asAdmin = { BASE: env.CONVEYOR_URL, ADMIN: admin! };
    // Step 1. The ids and the key in the guide's sample output are replaced by the reader's own.
    expect(step1).toHaveLength(2);
    const created = await curl(step1[0], asAdmin, dir);
    expect(created.status).toBe(201);
    const exampleUser = /\/admin\/users\/([0-9a-f-]{36})\/api-keys/.exec(step1[1])![1];
    const issued = await curl(step1[1].replace(exampleUser, created.body.id), asAdmin, dir);
    expect(issued.status).toBe(201);
    expect(issued.body.key).toMatch(/^cvk_/);
    const asUser = { BASE: env.CONVEYOR_URL, KEY: issued.body.key };
    // Step 2.
    expect(step2).toHaveLength(1);
    const job = await curl(step2[0], asUser, dir);
    expect(job.status).toBe(201);
    // Step 3: poll until completed, then the result.
    const exampleJob = /\/jobs\/([0-9a-f-]{36})/.exec(step3[0])![1];
    const [poll, result] = step3.map((command) => command.replace(exampleJob, job.body.id));
    await expect
      .poll(async () => (await curl(poll, asUser, dir)).body.status, { timeout: 30_000, interval: 250 })
      .toBe('completed');
    const answer = await curl(result, asUser, dir);
    expect(answer.status).toBe(200);
    expect(answer.body.output.hex).toBe('2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824');
    // Or the webhook: here an http receiver on this machine (the service allows it in this test).
    expect(webhook[0]).toContain('https://example.com/conveyor/webhooks');
    const local = `http://127.0.0.1:${await freePort()}/`;
    const hook = await curl(webhook[0].replace('https://example.com/conveyor/webhooks', local), asUser, dir);
    expect(hook.status).toBe(201);
    expect(hook.body.secret).toMatch(/^whsec_/);
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
    const ran = await run('python3', ['job.py'], dir, env);
    expect(ran.stderr).toBe('');
    expect(ran.code).toBe(0);
    expect(ran.stdout).toContain('2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824');
  });

  it('use case 1 in cURL (with jq): the same, as the guide’s script', async () => {
    const [script] = await blocks('2. Use case 1', 'cURL', 'sh');
    await writeFile(path.join(dir, 'job.sh'), script);
    const ran = await run('bash', ['job.sh'], dir, { BASE: env.CONVEYOR_URL, KEY: env.CONVEYOR_KEY });
    expect(ran.stderr).toBe('');
    expect(ran.code).toBe(0);
    expect(ran.stdout).toMatch(/^job [0-9a-f-]{36}$/m);
    expect(ran.stdout).toContain('"hex": "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"');
  });

  it('use case 2 in JavaScript, Python and cURL: the NDJSON file becomes a batch; its results come back as CSV and JSON Lines', async () => {
    const [file] = await blocks('3. Use case 2', null, 'sh');
    expect((await run('bash', ['-c', file], dir, {})).code).toBe(0);
    const items = ['row-1', 'row-2', 'row-3', 'row-4'];

    const [js] = await blocks('3. Use case 2', 'JavaScript', 'js');
    await writeFile(path.join(dir, 'batch.mjs'), js);
    const byNode = await node(path.join(dir, 'batch.mjs'), env);
    expect(byNode.stderr).toBe('');
    expect(byNode.code).toBe(0);
    expect(byNode.stdout).toMatch(/^batch [0-9a-f-]{36} with 4 items$/m);
    const saved = /^saved (batch-[0-9a-f-]{36}\.csv)$/m.exec(byNode.stdout)?.[1];
    expect(saved).toBeDefined();
    const csv = (await readFile(path.join(dir, saved!), 'utf8')).trim().split('\n');
    expect(csv).toHaveLength(1 + items.length); // a header, then the items in upload order
    items.forEach((item, i) => expect(csv[i + 1]).toContain(item));

    const [py] = await blocks('3. Use case 2', 'Python', 'python');
    await writeFile(path.join(dir, 'batch.py'), py);
    const byPython = await run('python3', ['batch.py'], dir, env);
    expect(byPython.stderr).toBe('');
    expect(byPython.code).toBe(0);
    expect(byPython.stdout).toMatch(/^row-1 completed \{'hex': '2cf24dba/m);
    for (const item of items) expect(byPython.stdout).toMatch(new RegExp(`^${item} completed `, 'm'));

    const [sh] = await blocks('3. Use case 2', 'cURL', 'sh');
    const byCurl = await run('bash', ['-c', `set -euo pipefail\n${sh}`], dir, {
      BASE: env.CONVEYOR_URL,
      KEY: env.CONVEYOR_KEY,
    });
    expect(byCurl.code).toBe(0);
    const lines = byCurl.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line));
    expect(lines.map((line) => [line.customId, line.status])).toEqual(items.map((item) => [item, 'completed']));
    // -OJ saved the CSV under the name the service gave it (batch-<id>.csv), next to the JavaScript one.
    const byName = (await readdir(dir)).filter((name) => /^batch-[0-9a-f-]{36}\.csv$/.test(name) && name !== saved);
    expect(byName).toHaveLength(1);
    expect(await readFile(path.join(dir, byName[0]), 'utf8')).toContain('row-4');
  }, 120_000);

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

  it('every answer the guide’s programs received conforms to docs/openapi.json (validating proxy)', () => {
    expect(proxy.checked).toBeGreaterThan(5);
    proxy.expectConforming();
  });
});
