import { AsyncLocalStorage } from 'node:async_hooks';

/**
 * What a statement runs for, so that a slow-query warning can say so: the HTTP route (its
 * template, never the URL with its ids) or the job (id and type), or the part of the process
 * (the worker's claim loop, the dispatcher). Set with {@link runFor}; read by the Db provider.
 */
export type StatementContext =
  { route: string; method: string; userId?: string } | { jobId: string; jobType: string } | { component: string };

const storage = new AsyncLocalStorage<StatementContext>();

/** Runs `work` (and whatever it starts) in `context`. */
export function runFor<T>(context: StatementContext, work: () => T): T {
  return storage.run(context, work);
}

export function statementContext(): StatementContext | undefined {
  return storage.getStore();
}

/**
 * Records the authenticated user on the request's context: read-your-writes (Db.reader) looks up
 * that user's last write, and a slow-query warning names them.
 */
export function bindUser(userId: string): void {
  const context = storage.getStore();
  if (context && 'route' in context) context.userId = userId;
}
