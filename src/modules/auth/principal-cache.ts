import { Injectable, Logger, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import pg from 'pg';
import { AppConfig } from '../../config/config.js';
import type { Principal } from '../../common/auth/principal.js';

export const AUTH_CHANNEL = 'conveyor_auth';
const TTL_MS = 60_000;
const MAX_ENTRIES = 10_000;

/**
 * Caches API key → principal per instance, so an authenticated request does not pay a database
 * round trip. Safe because every change that could make an entry wrong (key revoked, user's role
 * or tier changed) sends NOTIFY on `conveyor_auth` in its own transaction, and every instance
 * LISTENs and drops its whole cache on any notification. While the LISTEN connection is down the
 * cache is not used at all, so a missed notification can never keep a revoked key alive.
 */
@Injectable()
export class PrincipalCache implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger(PrincipalCache.name);
  private readonly entries = new Map<string, { principal: Principal; expires: number }>();
  private client: pg.Client | undefined;
  private listening = false;
  private closed = false;
  private retry: NodeJS.Timeout | undefined;

  constructor(private readonly config: AppConfig) {}

  async onModuleInit(): Promise<void> {
    await this.connect();
  }

  async onModuleDestroy(): Promise<void> {
    this.closed = true;
    clearTimeout(this.retry);
    this.listening = false;
    await this.client?.end().catch(() => undefined);
  }

  get(hashHex: string): Principal | undefined {
    if (!this.listening) return undefined;
    const entry = this.entries.get(hashHex);
    if (!entry) return undefined;
    if (entry.expires < Date.now()) {
      this.entries.delete(hashHex);
      return undefined;
    }
    return entry.principal;
  }

  set(hashHex: string, principal: Principal): void {
    if (!this.listening) return;
    if (this.entries.size >= MAX_ENTRIES) this.entries.delete(this.entries.keys().next().value!);
    this.entries.set(hashHex, { principal, expires: Date.now() + TTL_MS });
  }

  /** Drops every entry; called on NOTIFY and directly by the instance that made the change. */
  clear(): void {
    this.entries.clear();
  }

  private async connect(): Promise<void> {
    const client = new pg.Client({
      connectionString: this.config.database.url,
      application_name: 'conveyor-auth-listen',
    });
    client.on('notification', () => this.clear());
    client.on('error', (error) => this.lost(error));
    client.on('end', () => this.lost(new Error('connection ended')));
    try {
      await client.connect();
      await client.query(`LISTEN ${AUTH_CHANNEL}`);
      this.client = client;
      // Anything cached before the gap may be stale.
      this.clear();
      this.listening = true;
    } catch (error) {
      await client.end().catch(() => undefined);
      this.lost(error);
    }
  }

  private lost(error: unknown): void {
    if (this.closed) return;
    if (this.listening)
      this.logger.warn({ err: error }, 'auth cache LISTEN connection lost; cache disabled until it is back');
    this.listening = false;
    this.clear();
    if (!this.retry) {
      this.retry = setTimeout(() => {
        this.retry = undefined;
        if (!this.closed) void this.connect();
      }, 1000);
      this.retry.unref();
    }
  }
}
