import type pg from 'pg';
import { generateApiKey } from '../../src/modules/auth/api-key.util.js';

export interface SeededUser {
  id: string;
  /** A working API key of this user, for `Authorization: Bearer`. */
  key: string;
}

/** `count` users (tier pro), each with one API key, inserted directly. */
export async function seedUsers(client: pg.Client, count: number): Promise<SeededUser[]> {
  const users: SeededUser[] = [];
  for (let i = 0; i < count; i += 1) {
    const user = await client.query<{ id: string }>(
      `INSERT INTO users (name, email, tier, role) VALUES ($1, $2, 'pro', 'user') RETURNING id`,
      [`Bench User ${i}`, `bench-${i}@conveyor.local`],
    );
    const { key, hash, prefix } = generateApiKey();
    await client.query(`INSERT INTO api_keys (user_id, name, key_hash, prefix) VALUES ($1, 'bench', $2, $3)`, [
      user.rows[0].id,
      hash,
      prefix,
    ]);
    users.push({ id: user.rows[0].id, key });
  }
  return users;
}
