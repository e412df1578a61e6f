import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createUser, type TestUser } from './helpers/app.js';
import { createTestDatabase, type TestDatabase } from './helpers/database.js';
import { freePort } from './helpers/ports.js';
import { startService, waitForReady, type ServiceProcess } from './helpers/process.js';
import { ValidatingProxy } from './helpers/validating-proxy.js';

/** Debian's chromium (`apt-get install chromium`); .ci/run installs it when it is missing. */
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
/** Kept by CI as an artifact: the page at the end of the run, whether the tests passed or not. */
const SCREENSHOT = path.resolve('.artifacts/swagger-ui.png');
/**
 * Swagger UI renders the whole document client-side from a 1.5 MB bundle: on a loaded 2-CPU machine
 * the first render alone took 21 s. Each wait is on a condition (an element, a response), never a sleep.
 */
const UI_TIMEOUT = 60_000;

interface OpenApiDocument {
  tags?: Array<{ name: string }>;
  paths: Record<string, Record<string, { operationId?: string; tags?: string[] }>>;
}

const HTTP_METHODS = new Set(['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace']);

/** The sections Swagger UI shows: every tag an operation has, and "default" for an untagged one. */
function expectedSections(doc: OpenApiDocument): { tags: string[]; operations: number } {
  const tags = new Set<string>();
  let operations = 0;
  for (const methods of Object.values(doc.paths)) {
    for (const [method, op] of Object.entries(methods)) {
      if (!HTTP_METHODS.has(method)) continue;
      const opTags = op.tags?.length ? op.tags : ['default'];
      for (const tag of opTags) tags.add(tag);
      operations += opTags.length; // an operation with two tags is listed under both
    }
  }
  return { tags: [...tags].sort(), operations };
}

describe('Swagger UI at /docs in headless Chromium', () => {
  let db: TestDatabase;
  let user: TestUser;
  let service: ServiceProcess;
  let base: string;
  let proxy: ValidatingProxy;
  let browser: Browser | undefined;
  let page: Page | undefined;
  let opening: Promise<Page> | undefined;
  /** Console errors (CSP violations are reported there), uncaught exceptions, failed requests. */
  const problems: string[] = [];

  beforeAll(async () => {
    db = await createTestDatabase();
    // A user exists before the start, so no bootstrap admin is created.
    user = await createUser(db);
    const port = await freePort();
    service = startService({
      DATABASE_URL: db.url,
      REDIS_URL: inject('redisUrl'),
      PORT: String(port),
      HOST: '127.0.0.1',
      ROLE: 'api',
      LOG_LEVEL: 'warn',
    });
    await waitForReady(port, service);
    // The browser talks to the service through a validating proxy (checked by the last test).
    proxy = await ValidatingProxy.start(`http://127.0.0.1:${port}`);
    base = proxy.url;
  });

  afterAll(async () => {
    if (page) {
      await mkdir(path.dirname(SCREENSHOT), { recursive: true });
      await page.screenshot({ path: SCREENSHOT, fullPage: true }).then(
        () => process.stdout.write(`Swagger UI screenshot: ${SCREENSHOT}\n`),
        (error: Error) => process.stdout.write(`Swagger UI screenshot failed: ${error.message}\n`),
      );
    }
    await browser?.close();
    await proxy?.close();
    if (service) {
      service.child.kill('SIGTERM');
      await service.exited;
    }
    await db?.drop();
  });

  /** The /docs page, loaded once and shared by the tests (they run in order, on one page). */
  function docsPage(): Promise<Page> {
    opening ??= (async () => {
      if (!existsSync(CHROMIUM)) {
        throw new Error(
          `Chromium is not installed at ${CHROMIUM}: this test needs a real browser. ` +
            'Install it with `apt-get update && apt-get install -y chromium` (.ci/run does) or set CHROMIUM_PATH.',
        );
      }
      // --no-sandbox: CI runs as root, where Chromium's sandbox refuses to start. A container's
      // /dev/shm may be 64 MB, too small for a page this long: use /tmp instead.
      browser = await chromium.launch({
        executablePath: CHROMIUM,
        args: ['--no-sandbox', '--disable-dev-shm-usage'],
        timeout: UI_TIMEOUT,
      });
      const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
      context.setDefaultTimeout(UI_TIMEOUT);
      // Every CSP violation, also one Chromium would not log (injected by the browser: no CSP applies).
      await context.exposeFunction('reportCspViolation', (violation: string) => problems.push(violation));
      // (A string: the tests are compiled without the DOM's types.)
      await context.addInitScript(`document.addEventListener('securitypolicyviolation', (event) =>
        window.reportCspViolation('CSP violation: ' + event.violatedDirective + ' blocked ' +
          (event.blockedURI || 'inline') + ' (' + event.sourceFile + ':' + event.lineNumber + ')'));`);
      const opened = await context.newPage();
      opened.on('console', (message) => {
        if (message.type() === 'error') problems.push(`console.error: ${message.text()} (${message.location().url})`);
      });
      opened.on('pageerror', (error) => problems.push(`pageerror: ${error.message}`));
      opened.on('requestfailed', (request) =>
        problems.push(`request failed: ${request.method()} ${request.url()} (${request.failure()?.errorText})`),
      );
      opened.on('response', (response) => {
        if (response.status() >= 400) problems.push(`HTTP ${response.status()}: ${response.url()}`);
      });
      page = opened;
      const loaded = await opened.goto(`${base}/docs`, { waitUntil: 'load' });
      expect(loaded?.status()).toBe(200);
      expect(loaded?.headers()['content-security-policy']).toContain("script-src 'self'");
      await opened.locator('.swagger-ui .information-container .title').waitFor();
      await opened.locator('.swagger-ui .opblock-tag').first().waitFor();
      return opened;
    })();
    return opening;
  }

  it('shows every tag of the document as a section, with all its operations, and no console error or CSP violation', async () => {
    const page = await docsPage();
    const doc = (await (await fetch(`${base}/docs-json`)).json()) as OpenApiDocument;
    const expected = expectedSections(doc);

    await expect(page.locator('.swagger-ui .information-container .title').textContent()).resolves.toContain(
      'Conveyor API',
    );
    const shown = (await page
      .locator('.swagger-ui .opblock-tag')
      .evaluateAll((tags) => tags.map((tag) => tag.getAttribute('data-tag')))) as string[];
    expect([...shown].sort()).toEqual(expected.tags);
    for (const tag of expected.tags) {
      const section = page.locator(`.opblock-tag[data-tag="${tag}"]`);
      await expect(section.isVisible(), `section ${tag}`).resolves.toBe(true);
      // Open by default (docExpansion "list"); a closed one is opened, as a reader would.
      if ((await section.getAttribute('data-is-open')) === 'false') await section.click();
    }
    // Every operation is listed under each of its tags.
    await expect
      .poll(() => page.locator('.swagger-ui .opblock').count(), { timeout: UI_TIMEOUT })
      .toBe(expected.operations);
    // The Authorize button is there: the document declares the bearer scheme.
    await expect(page.locator('.swagger-ui .auth-wrapper .btn.authorize').isVisible()).resolves.toBe(true);

    expect(problems).toEqual([]);
  }, 150_000);

  it('authorizes with an API key, then "Try it out" creates a job (201) and reads it back (200)', async () => {
    const page = await docsPage();

    // Authorize: the bearer value goes into the dialog, is applied, and the dialog closes.
    await page.locator('.swagger-ui .auth-wrapper .btn.authorize').click();
    const dialog = page.locator('.swagger-ui .dialog-ux .modal-ux');
    await dialog.waitFor();
    await dialog.locator('.auth-container input').fill(user.key);
    await dialog.locator('.auth-btn-wrapper .btn.authorize').click();
    // Once applied, the dialog offers "Logout" in place of "Authorize".
    await dialog.locator('.auth-btn-wrapper button:has-text("Logout")').waitFor();
    await dialog.locator('.btn-done, .close-modal').first().click();
    await dialog.waitFor({ state: 'detached' });
    await expect(page.locator('.swagger-ui .auth-wrapper .btn.authorize').getAttribute('class')).resolves.toMatch(
      /\blocked\b/,
    );

    // POST /api/v1/jobs: Try it out with a valid body, Execute.
    const create = page
      .locator('.opblock.opblock-post')
      .filter({ has: page.locator('.opblock-summary-path[data-path="/api/v1/jobs"]') })
      .first();
    await create.locator('.opblock-summary').first().click();
    await create.locator('.try-out__btn').click();
    await create.locator('textarea.body-param__text').fill(JSON.stringify({ type: 'echo', input: { text: 'hi' } }));
    const created = page.waitForResponse(
      (response) => response.request().method() === 'POST' && response.url() === `${base}/api/v1/jobs`,
    );
    await create.locator('.execute').click();
    const createResponse = await created;
    expect(createResponse.request().headers().authorization).toBe(`Bearer ${user.key}`);
    expect(createResponse.status()).toBe(201);
    // What the UI shows (rendered after the response arrived: polled, not read once).
    const createStatus = create.locator('.live-responses-table .response .response-col_status');
    await expect.poll(async () => (await createStatus.textContent())?.trim(), { timeout: UI_TIMEOUT }).toBe('201');
    // The id the UI shows in the response body.
    const createBody = await create
      .locator('.live-responses-table .response-col_description pre.microlight')
      .first()
      .textContent();
    const job = JSON.parse(createBody ?? '') as { id: string; type: string; status: string };
    expect(job).toMatchObject({ type: 'echo', status: 'queued' });
    expect(job.id).toMatch(/^[0-9a-f-]{36}$/);

    // GET /api/v1/jobs/{id}: Try it out with that id, Execute.
    const read = page
      .locator('.opblock.opblock-get')
      .filter({ has: page.locator('.opblock-summary-path[data-path="/api/v1/jobs/{id}"]') })
      .first();
    await read.locator('.opblock-summary').first().click();
    await read.locator('.try-out__btn').click();
    await read.locator('tr[data-param-name="id"][data-param-in="path"] input').fill(job.id);
    const fetched = page.waitForResponse(
      (response) => response.request().method() === 'GET' && response.url() === `${base}/api/v1/jobs/${job.id}`,
    );
    await read.locator('.execute').click();
    const readResponse = await fetched;
    expect(readResponse.request().headers().authorization).toBe(`Bearer ${user.key}`);
    expect(readResponse.status()).toBe(200);
    const readStatus = read.locator('.live-responses-table .response .response-col_status');
    await expect.poll(async () => (await readStatus.textContent())?.trim(), { timeout: UI_TIMEOUT }).toBe('200');
    const readBody = await read
      .locator('.live-responses-table .response-col_description pre.microlight')
      .first()
      .textContent();
    expect(JSON.parse(readBody ?? '')).toMatchObject({ id: job.id, type: 'echo' });

    expect(problems).toEqual([]);
  }, 180_000);

  it('every answer the browser received conforms to docs/openapi.json (validating proxy)', () => {
    // POST /jobs and GET /jobs/{id} at least ("Try it out"); /docs and its assets are not operations.
    expect(proxy.checked).toBeGreaterThanOrEqual(2);
    proxy.expectConforming();
  });
});
