/**
 * The README's flows through a client generated from docs/openapi.json (openapi-typescript types,
 * openapi-fetch calls). It is only type-checked (check.sh), under `strict` and with no casts: if
 * the document stops describing what these calls send and read, this stops compiling.
 */
import createClient from 'openapi-fetch';
import type { components, paths } from 'conveyor-api';

type Problem = components['schemas']['ProblemDto'];

const client = createClient<paths>({
  baseUrl: 'http://localhost:3000',
  headers: { Authorization: 'Bearer cvk_YOUR_API_KEY' },
});

function fail(problem: Problem): never {
  throw new Error(`${problem.status} ${problem.code}: ${problem.detail}`);
}

/** Submit a job (idempotently), read it, then its result. */
export async function hashHello(): Promise<string | undefined> {
  const created = await client.POST('/api/v1/jobs', {
    params: { header: { 'Idempotency-Key': 'order-42' } },
    body: { type: 'hash', input: { text: 'hello', algorithm: 'sha256' } },
  });
  if (!created.data) return fail(created.error);
  const id: string = created.data.id;

  const job = await client.GET('/api/v1/jobs/{id}', { params: { path: { id } } });
  if (!job.data) return fail(job.error);
  if (job.data.error) throw new Error(`${job.data.error.code}: ${job.data.error.message}`);
  if (job.data.status !== 'completed') return undefined;

  const result = await client.GET('/api/v1/jobs/{id}/result', { params: { path: { id } } });
  if (!result.data) return fail(result.error);
  // Any JSON value: narrowed, not cast.
  const output = result.data.output;
  if (typeof output === 'object' && output !== null && 'hex' in output && typeof output.hex === 'string') {
    return output.hex;
  }
  return undefined;
}

/** Submit a batch and read its counts. */
export async function submitBatch(texts: string[]): Promise<number> {
  const batch = await client.POST('/api/v1/batches', {
    body: {
      items: texts.map((text, i) => ({ customId: `row-${i}`, type: 'hash', input: { text, algorithm: 'sha256' } })),
      metadata: { source: 'typed-client' },
    },
  });
  if (!batch.data) return fail(batch.error);
  const { total, completed, failed }: { total: number; completed: number; failed: number } = batch.data.counts;
  return total - completed - failed;
}

/** Every completed job, page by page (keyset cursor). */
export async function completedJobIds(): Promise<string[]> {
  const ids: string[] = [];
  let cursor: string | undefined;
  do {
    const page = await client.GET('/api/v1/jobs', { params: { query: { status: 'completed', limit: 100, cursor } } });
    if (!page.data) return fail(page.error);
    ids.push(...page.data.data.map((job) => job.id));
    cursor = page.data.nextCursor ?? undefined;
  } while (cursor);
  return ids;
}

/** Register a webhook endpoint; its secret is shown only now. */
export async function registerWebhook(url: string): Promise<string> {
  const hook = await client.POST('/api/v1/webhooks', {
    body: { url, events: ['job.completed', 'job.failed', 'webhook.test'], description: 'typed client' },
  });
  if (!hook.data) return fail(hook.error);
  const types = await client.GET('/api/v1/webhooks/event-types');
  if (!types.data) return fail(types.error);
  const known: string[] = types.data.data.map((t) => t.type);
  if (!known.includes('job.completed')) throw new Error('job.completed missing from the catalog');
  return hook.data.secret;
}
