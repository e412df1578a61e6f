const RETRYABLE = new Set(['40P01', '40001']); // deadlock_detected, serialization_failure

/**
 * Runs an all-or-nothing statement again when PostgreSQL aborted it as a deadlock victim or for a
 * serialization failure: nothing of it was applied, so running it again is safe. Batched writes
 * that touch many rows in no fixed order (completions, webhook attempts) can meet that way.
 */
export async function retryOnConflict<T>(run: () => Promise<T>, attempts = 3): Promise<T> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await run();
    } catch (error) {
      const failure = error as { code?: string; driverError?: { code?: string } };
      if (attempt >= attempts || !RETRYABLE.has(failure.driverError?.code ?? failure.code ?? '')) throw error;
    }
  }
}
