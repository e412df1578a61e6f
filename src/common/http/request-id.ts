import { randomUUID } from 'node:crypto';

// Client-sent ids are echoed only when they are short and plain, so they cannot inject into logs.
const SAFE_REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/**
 * An API key pasted into the header by mistake (`cvk_…`) must not reach the logs, where the
 * request id is written in clear: such an id is replaced like any other unsafe one.
 */
const KEY_SHAPED = /^cvk_/i;

/** The id of a request: the client's `X-Request-Id` if it is short and plain, else a new UUID. */
export function requestId(request: { headers: Record<string, string | string[] | undefined> }): string {
  const sent = request.headers['x-request-id'];
  return typeof sent === 'string' && SAFE_REQUEST_ID.test(sent) && !KEY_SHAPED.test(sent) ? sent : randomUUID();
}
