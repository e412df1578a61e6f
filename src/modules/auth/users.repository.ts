import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import type { Role, Tier } from '../../common/auth/principal.js';
import type { Keyset } from '../../common/pagination/pagination.js';
import { preparedQuery } from '../../database/prepared.js';
import { AUTH_CHANNEL } from './principal-cache.js';

export interface UserRow {
  id: string;
  name: string;
  email: string;
  tier: Tier;
  role: Role;
  created_at: Date;
  updated_at: Date;
  cursor_ts: string;
}

const COLUMNS = 'id, name, email, tier, role, created_at, updated_at, created_at::text AS cursor_ts';

@Injectable()
export class UsersRepository {
  constructor(@InjectDataSource() private readonly db: DataSource) {}

  /** Inserts a user; returns undefined when the email is taken (case-insensitive). */
  async create(user: { name: string; email: string; tier: Tier; role: Role }): Promise<UserRow | undefined> {
    const rows: UserRow[] = await this.db.query(
      `INSERT INTO users (name, email, tier, role) VALUES ($1, $2, $3, $4)
       ON CONFLICT ((lower(email))) DO NOTHING RETURNING ${COLUMNS}`,
      [user.name, user.email, user.tier, user.role],
    );
    return rows[0];
  }

  async findById(id: string): Promise<UserRow | undefined> {
    const rows = await preparedQuery<UserRow>(this.db, 'user_by_id', `SELECT ${COLUMNS} FROM users WHERE id = $1`, [
      id,
    ]);
    return rows[0];
  }

  async list(limit: number, after?: Keyset): Promise<UserRow[]> {
    return this.db.query(
      `SELECT ${COLUMNS} FROM users
        WHERE ($2::timestamptz IS NULL OR (created_at, id) < ($2::timestamptz, $3::uuid))
        ORDER BY created_at DESC, id DESC LIMIT $1`,
      [limit + 1, after?.createdAt ?? null, after?.id ?? null],
    );
  }

  async update(id: string, changes: { tier?: Tier; role?: Role; name?: string }): Promise<UserRow | undefined> {
    // Role and tier are part of every cached principal: NOTIFY (on commit) makes all instances drop theirs.
    const rows: UserRow[] = await this.db.query(
      `WITH updated AS (
         UPDATE users SET tier = coalesce($2, tier), role = coalesce($3, role), name = coalesce($4, name),
                updated_at = now()
          WHERE id = $1 RETURNING *)
       SELECT ${COLUMNS}, pg_notify('${AUTH_CHANNEL}', id::text) FROM updated`,
      [id, changes.tier ?? null, changes.role ?? null, changes.name ?? null],
    );
    return rows[0];
  }

  async count(): Promise<number> {
    const rows: Array<{ n: string }> = await this.db.query('SELECT count(*) AS n FROM users');
    return Number(rows[0].n);
  }
}
