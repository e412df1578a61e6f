import { Injectable } from '@nestjs/common';
import type { Role, Tier } from '../../common/auth/principal.js';
import type { Keyset } from '../../common/pagination/pagination.js';
import { Db, type Queryable } from '../../database/db.js';
import {
  COUNT_USERS,
  FIND_USER_BY_EMAIL,
  FIND_USER_BY_ID,
  INSERT_USER,
  LIST_USERS,
  LOCK_ADMINS,
  UPDATE_USER,
  type UserRow,
} from './users.sql.js';

export type { UserRow } from './users.sql.js';

// Any constant works; it only has to be the same for every Conveyor process.
const ADMINS_LOCK = 4_318_772_002;

/** Users. Write methods take an optional transaction (`q`), so a caller can group them. */
@Injectable()
export class UsersRepository {
  constructor(private readonly db: Db) {}

  /** Inserts a user; returns undefined when the email is taken (case-insensitive). */
  async create(
    user: { name: string; email: string; tier: Tier; role: Role },
    q: Queryable = this.db,
  ): Promise<UserRow | undefined> {
    const rows = await q.query(INSERT_USER, [user.name, user.email, user.tier, user.role]);
    return rows[0];
  }

  async findById(id: string, q: Queryable = this.db): Promise<UserRow | undefined> {
    const rows = await q.query(FIND_USER_BY_ID, [id]);
    return rows[0];
  }

  async findByEmail(email: string, q: Queryable = this.db): Promise<UserRow | undefined> {
    const rows = await q.query(FIND_USER_BY_EMAIL, [email]);
    return rows[0];
  }

  list(limit: number, after?: Keyset): Promise<UserRow[]> {
    return this.db.query(LIST_USERS, [limit + 1, after?.createdAt ?? null, after?.id ?? null]);
  }

  /**
   * Changes the fields given; every instance drops its cached principals when this commits.
   * Undefined for an unknown id, and for a demotion of the last admin with an active key.
   */
  async update(
    id: string,
    changes: { tier?: Tier; role?: Role; name?: string },
    q: Queryable = this.db,
  ): Promise<UserRow | undefined> {
    const rows = await q.query(UPDATE_USER, [id, changes.tier ?? null, changes.role ?? null, changes.name ?? null]);
    return rows[0];
  }

  async count(q: Queryable = this.db): Promise<number> {
    const rows = await q.query(COUNT_USERS);
    return Number(rows[0].n);
  }

  /**
   * Holds the admins lock until `tx` ends: instances starting together create one admin, and
   * demotions and key revocations see each other's effect on "is an admin left?".
   */
  async lockAdmins(tx: Queryable): Promise<void> {
    await tx.query(LOCK_ADMINS, [ADMINS_LOCK]);
  }
}
