import { Injectable, Logger, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import pg from 'pg';
import { AppConfig } from '../config/config.js';

export type NotificationHandler = (payload: string) => void;

/**
 * The process's one LISTEN connection, shared by every consumer of NOTIFY (auth cache, job
 * worker, …). It reconnects by itself every second while the database is unreachable and
 * re-LISTENs every subscribed channel; consumers that must not trust state while notifications
 * may be missed watch `connected` and `onConnectionChange`.
 */
@Injectable()
export class PgListener implements OnModuleInit, OnApplicationShutdown {
  /** `application_name` of the connection, so operators (and tests) can find it in pg_stat_activity. */
  static readonly APPLICATION_NAME = 'conveyor-listen';

  private readonly logger = new Logger(PgListener.name);
  private readonly handlers = new Map<string, NotificationHandler[]>();
  private readonly connectionHandlers: Array<(connected: boolean) => void> = [];
  private client: pg.Client | undefined;
  private up = false;
  private closed = false;
  private retry: NodeJS.Timeout | undefined;

  constructor(private readonly config: AppConfig) {}

  /** True while every subscribed channel is being listened to. */
  get connected(): boolean {
    return this.up;
  }

  /** Delivers NOTIFYs on `channel` to `handler`. Resolves once the channel is listened to, or at once while disconnected. */
  async subscribe(channel: string, handler: NotificationHandler): Promise<void> {
    const known = this.handlers.has(channel);
    this.handlers.set(channel, [...(this.handlers.get(channel) ?? []), handler]);
    if (!known && this.up && this.client) await this.client.query(`LISTEN ${channel}`);
  }

  onConnectionChange(handler: (connected: boolean) => void): void {
    this.connectionHandlers.push(handler);
  }

  async onModuleInit(): Promise<void> {
    await this.connect();
  }

  /** Last, after HTTP has closed and the worker has drained, so both hear notifications until then. */
  async onApplicationShutdown(): Promise<void> {
    this.closed = true;
    clearTimeout(this.retry);
    this.setUp(false);
    await this.client?.end().catch(() => undefined);
  }

  private async connect(): Promise<void> {
    const client = new pg.Client({
      connectionString: this.config.database.url,
      application_name: PgListener.APPLICATION_NAME,
    });
    client.on('notification', (message) => {
      for (const handler of this.handlers.get(message.channel) ?? []) handler(message.payload ?? '');
    });
    client.on('error', (error) => this.lost(client, error));
    client.on('end', () => this.lost(client, new Error('connection ended')));
    try {
      await client.connect();
      for (const channel of this.handlers.keys()) await client.query(`LISTEN ${channel}`);
      this.client = client;
      this.setUp(true);
    } catch (error) {
      await client.end().catch(() => undefined);
      this.lost(client, error);
    }
  }

  private lost(client: pg.Client, error: unknown): void {
    // Events of a connection already replaced are old news.
    if (this.closed || (this.client !== undefined && this.client !== client)) return;
    if (this.up) this.logger.warn({ err: error }, 'LISTEN connection lost; reconnecting');
    this.client = undefined;
    this.setUp(false);
    if (!this.retry) {
      this.retry = setTimeout(() => {
        this.retry = undefined;
        if (!this.closed) void this.connect();
      }, 1000);
      this.retry.unref();
    }
  }

  private setUp(up: boolean): void {
    if (this.up === up) return;
    this.up = up;
    for (const handler of this.connectionHandlers) handler(up);
  }
}
