import { hash, randomBytes } from 'node:crypto';

export const API_KEY_PREFIX = 'cvk_';

/** SHA-256 of a key: what is stored and looked up. Keys are high-entropy, so no salt or slow hash is needed. */
export function hashApiKey(key: string): Buffer {
  // One-shot crypto.hash: every authenticated request pays this, and it skips the Hash object.
  return hash('sha256', key, 'buffer');
}

/** A new key: `cvk_` + 32 random bytes in base64url (256 bits). */
export function generateApiKey(): { key: string; hash: Buffer; prefix: string } {
  const key = API_KEY_PREFIX + randomBytes(32).toString('base64url');
  return { key, hash: hashApiKey(key), prefix: displayPrefix(key) };
}

export function displayPrefix(key: string): string {
  return key.slice(0, API_KEY_PREFIX.length + 6);
}
