import { Injectable, type OnModuleInit } from '@nestjs/common';
import type { Principal } from '../../common/auth/principal.js';
import { PgListener } from '../../database/pg-listener.js';

export const AUTH_CHANNEL = 'conveyor_auth';
const TTL_MS = 60_000;
const MAX_ENTRIES = 10_000;

/**
 * Caches API key → principal per instance, so an authenticated request does not pay a database
 * round trip. Safe because every change that could make an entry wrong (key revoked, user's role
 * or tier changed) sends NOTIFY on `conveyor_auth` in its own transaction, and every instance
 * LISTENs and drops its whole cache on any notification. While the LISTEN connection is down the
 * cache is not used at all, and it starts empty when the connection is back, so a missed
 * notification can never keep a revoked key alive.
 */
@Injectable()
export class PrincipalCache implements OnModuleInit {
  private readonly entries = new Map<string, { principal: Principal; expires: number }>();

  constructor(private readonly listener: PgListener) {}

  async onModuleInit(): Promise<void> {
    this.listener.onConnectionChange(() => this.clear());
    await this.listener.subscribe(AUTH_CHANNEL, () => this.clear());
  }

  get(hashHex: string): Principal | undefined {
    if (!this.listener.connected) return undefined;
    const entry = this.entries.get(hashHex);
    if (!entry) return undefined;
    if (entry.expires < Date.now()) {
      this.entries.delete(hashHex);
      return undefined;
    }
    return entry.principal;
  }

  set(hashHex: string, principal: Principal): void {
    if (!this.listener.connected) return;
    if (this.entries.size >= MAX_ENTRIES) this.entries.delete(this.entries.keys().next().value!);
    this.entries.set(hashHex, { principal, expires: Date.now() + TTL_MS });
  }

  /** Drops every entry; called on NOTIFY and directly by the instance that made the change. */
  clear(): void {
    this.entries.clear();
  }
}
