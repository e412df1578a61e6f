import { Injectable, Logger, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { createClient } from '@redis/client';
import { AppConfig } from '../config/config.js';

/** The shared node-redis client. */
export type RedisClient = ReturnType<typeof createClient>;

/** How long a request may wait for Redis before it goes on without it. */
export const REDIS_COMMAND_TIMEOUT_MS = 100;
/** After a command timed out, Redis is skipped for this long: a stuck server costs one wait, not one per request. */
const SUSPEND_AFTER_TIMEOUT_MS = 1000;
/** Waiting for a graceful QUIT at shutdown; then the socket is destroyed. */
const CLOSE_TIMEOUT_MS = 1000;

/**
 * The one Redis connection of the process, for everything that uses Redis (the rate limiter, the
 * cache). Redis is an accelerator, never a dependency: with `REDIS_URL` unset there is no client,
 * and while Redis is down, black-holed or slow every caller goes on without it (in memory).
 *
 * node-redis's defaults make a command against an unreachable server wait forever, so the client
 * fails fast: a 500 ms connect timeout, a socket idle timeout that a 1 s PING keeps from firing on a
 * healthy idle connection, no offline queue (a command while disconnected fails at once), and a
 * reconnect backoff capped at 2 s. It connects in the background: start-up neither waits for
 * Redis nor fails without it. One warning per outage, one line when it is back.
 */
@Injectable()
export class RedisService implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger('Redis');
  /** Undefined when `REDIS_URL` is unset. */
  readonly client: RedisClient | undefined;
  private down = false;
  private closed = false;
  private suspendedUntil = 0;

  constructor(config: AppConfig) {
    if (!config.redisUrl) return;
    this.client = createClient({
      url: config.redisUrl,
      disableOfflineQueue: true,
      pingInterval: 1000,
      socket: {
        connectTimeout: 500,
        socketTimeout: 3000,
        reconnectStrategy: (retries: number) => Math.min(50 * 2 ** retries, 2000) + Math.floor(Math.random() * 100),
      },
    });
  }

  /** True when a command can be sent now: connected and not suspended after a timeout. */
  get ready(): boolean {
    return this.client?.isReady === true && Date.now() >= this.suspendedUntil;
  }

  onModuleInit(): void {
    const client = this.client;
    if (!client) {
      this.logger.log('REDIS_URL is unset: rate limits and caches are per instance, in memory');
      return;
    }
    client.on('error', (error: unknown) => this.failed(error));
    client.on('ready', () => {
      if (this.down) this.logger.log('Redis is back');
      else this.logger.log('Redis connected');
      this.down = false;
    });
    client.connect().catch((error: unknown) => this.failed(error));
  }

  /**
   * Runs `command` when Redis is ready and answers within `timeoutMs`; otherwise resolves
   * undefined. Never throws: a failure is logged once per outage and the caller goes on without
   * Redis. A command that timed out keeps running in the client; its late outcome is ignored.
   */
  async run<T>(
    command: (client: RedisClient) => Promise<T>,
    timeoutMs = REDIS_COMMAND_TIMEOUT_MS,
    options: { evenIfSuspended?: boolean } = {},
  ): Promise<T | undefined> {
    const client = this.client;
    // `evenIfSuspended`: a command that matters more than the request's latency (a write mark)
    // is still sent while Redis is skipped after a timeout, if it is connected.
    if (!client || !(options.evenIfSuspended ? client.isReady : this.ready)) return undefined;
    let timer: NodeJS.Timeout | undefined;
    try {
      const outcome = await Promise.race([
        command(client),
        new Promise<typeof TIMED_OUT>((resolve) => {
          timer = setTimeout(() => resolve(TIMED_OUT), timeoutMs);
        }),
      ]);
      if (outcome === TIMED_OUT) {
        this.suspendedUntil = Date.now() + SUSPEND_AFTER_TIMEOUT_MS;
        this.failed(new Error(`Redis did not answer within ${timeoutMs} ms`));
        return undefined;
      }
      if (this.down) {
        this.down = false;
        this.logger.log('Redis answers again');
      }
      return outcome;
    } catch (error) {
      this.failed(error);
      return undefined;
    } finally {
      clearTimeout(timer);
    }
  }

  /** After HTTP has drained: QUIT when connected (bounded), then the socket is destroyed whatever its state. */
  async onApplicationShutdown(): Promise<void> {
    const client = this.client;
    if (!client || this.closed) return;
    this.closed = true;
    if (client.isReady) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        client.close().catch(() => undefined),
        new Promise((resolve) => (timer = setTimeout(resolve, CLOSE_TIMEOUT_MS))),
      ]);
      clearTimeout(timer);
    }
    if (client.isOpen) client.destroy();
    this.logger.log('Redis connection closed');
  }

  private failed(error: unknown): void {
    if (this.closed || this.down) return;
    this.down = true;
    this.logger.warn(
      { err: error },
      'Redis unavailable; rate limits and caches go on in memory, per instance, until it is back',
    );
  }
}

const TIMED_OUT = Symbol('timed out');
