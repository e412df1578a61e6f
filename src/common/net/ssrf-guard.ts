import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { forbiddenReason, parseCidrs, type Cidr } from './ip-policy.js';
import { sendHttpRequest, withDeadline, type HttpRequestOptions, type HttpResponseData } from './http-client.js';

export interface SsrfPolicy {
  /** CIDRs (or single addresses) that may be reached although private, loopback or reserved. */
  allowedCidrs: readonly string[];
  /** Allow plain http; otherwise only https. */
  allowHttp: boolean;
}

/** Resolves a host name to every address it has (tests inject a fake one). */
export type HostResolver = (hostname: string) => Promise<string[]>;

export interface VettedTarget {
  url: URL;
  /** The address checked, and the one to connect to. */
  address: string;
}

/** The URL is not allowed by the SSRF policy. Retrying cannot help. */
export class SsrfBlockedError extends Error {
  constructor(
    readonly target: string,
    readonly reason: string,
  ) {
    super(`Refused to request ${target}: ${reason}`);
    this.name = 'SsrfBlockedError';
  }
}

const resolveWithDns: HostResolver = async (hostname) =>
  (await lookup(hostname, { all: true, verbatim: true })).map((entry) => entry.address);

function abortable<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return promise;
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason);
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

/**
 * Decides whether an outbound URL may be requested: scheme, credentials, and every address its
 * host resolves to. Construct once per policy (bad CIDRs throw here, at start-up).
 */
export class SsrfGuard {
  private readonly allowed: Cidr[];

  constructor(
    private readonly policy: SsrfPolicy,
    private readonly resolve: HostResolver = resolveWithDns,
  ) {
    this.allowed = parseCidrs(policy.allowedCidrs);
  }

  /**
   * Returns the address to connect to, or throws SsrfBlockedError. DNS failures are rethrown
   * as they are (they may be transient). Refuses when ANY address is forbidden: a name with
   * one public and one private address could otherwise be steered to the private one.
   */
  async vet(input: string | URL, signal?: AbortSignal): Promise<VettedTarget> {
    let url: URL;
    try {
      url = new URL(input);
    } catch (error) {
      throw new SsrfBlockedError(String(input).slice(0, 200), `not a valid URL (${(error as Error).message})`);
    }
    // WHATWG parsing has already turned 0x7f000001, 2130706433, 0177.0.0.1 and 127.1 into 127.0.0.1.
    const target = url.origin;
    if (url.protocol !== 'https:' && !(url.protocol === 'http:' && this.policy.allowHttp)) {
      throw new SsrfBlockedError(target, `scheme ${url.protocol} is not allowed`);
    }
    if (url.username || url.password) throw new SsrfBlockedError(target, 'credentials in the URL are not allowed');

    const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
    const addresses = isIP(host) ? [host] : await abortable(this.resolve(host), signal);
    if (addresses.length === 0) throw new Error(`${host} did not resolve to any address`);
    for (const address of addresses) {
      const reason = forbiddenReason(address, this.allowed);
      if (reason) {
        const via = address === host ? '' : ` resolves to ${address} which`;
        throw new SsrfBlockedError(target, `${host}${via} is ${reason}`);
      }
    }
    return { url, address: addresses[0] };
  }
}

export interface GuardedRequest extends Omit<HttpRequestOptions, 'connectTo' | 'signal'> {
  /** Covers name resolution, connect, and reading the whole response. */
  timeoutMs: number;
  signal?: AbortSignal;
}

/**
 * Vets `url` with `guard`, then requests it connected to the vetted address (so a DNS answer
 * that changes between check and connect cannot redirect us), without following redirects.
 * Throws SsrfBlockedError, HttpTimeoutError, the signal's reason, or a network error.
 */
export function guardedFetch(url: string | URL, init: GuardedRequest, guard: SsrfGuard): Promise<HttpResponseData> {
  const { timeoutMs, signal: parent, ...request } = init;
  return withDeadline(timeoutMs, parent, async (signal) => {
    const target = await guard.vet(url, signal);
    return sendHttpRequest(target.url, { ...request, signal, connectTo: target.address });
  });
}
