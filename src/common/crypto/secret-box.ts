import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

const VERSION = 'v1';
const IV_BYTES = 12;
const TAG_BYTES = 16;

/** A stored secret could not be decrypted: wrong key (SECRETS_ENCRYPTION_KEY changed) or tampered data. */
export class SecretDecryptionError extends Error {
  constructor() {
    super('Cannot decrypt a stored secret: SECRETS_ENCRYPTION_KEY differs from the key it was encrypted with');
    this.name = 'SecretDecryptionError';
  }
}

/**
 * Encrypts secrets at rest with AES-256-GCM (node:crypto), so a database dump does not give away
 * webhook signing secrets. Stored form: `v1.<iv>.<tag>.<ciphertext>` (base64url), where the version
 * leaves room for key rotation.
 */
export class SecretBox {
  private constructor(private readonly key: Buffer) {}

  static fromBase64(key: string): SecretBox {
    const bytes = Buffer.from(key, 'base64');
    if (bytes.length !== 32) throw new Error('The secrets key must be 32 bytes');
    return new SecretBox(bytes);
  }

  /**
   * Outside production, without SECRETS_ENCRYPTION_KEY: the key in `file`, created (mode 0600) on
   * first use, so `npm start` works on a fresh machine and keeps working across restarts.
   */
  static fromKeyFile(file: string): { box: SecretBox; created: boolean } {
    try {
      return { box: SecretBox.fromBase64(readFileSync(file, 'utf8').trim()), created: false };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
    mkdirSync(path.dirname(file), { recursive: true });
    const key = randomBytes(32).toString('base64');
    try {
      writeFileSync(file, `${key}\n`, { mode: 0o600, flag: 'wx' });
      return { box: SecretBox.fromBase64(key), created: true };
    } catch (error) {
      // Another process created it first: use theirs.
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      return { box: SecretBox.fromBase64(readFileSync(file, 'utf8').trim()), created: false };
    }
  }

  encrypt(plaintext: string): string {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.key, iv);
    const ciphertext = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return [VERSION, iv, cipher.getAuthTag(), ciphertext]
      .map((p) => (typeof p === 'string' ? p : p.toString('base64url')))
      .join('.');
  }

  decrypt(stored: string): string {
    const [version, iv, tag, ciphertext] = stored.split('.');
    if (version !== VERSION || !iv || !tag || ciphertext === undefined) throw new SecretDecryptionError();
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.key, Buffer.from(iv, 'base64url'), {
        authTagLength: TAG_BYTES,
      });
      decipher.setAuthTag(Buffer.from(tag, 'base64url'));
      return Buffer.concat([decipher.update(Buffer.from(ciphertext, 'base64url')), decipher.final()]).toString('utf8');
    } catch {
      throw new SecretDecryptionError();
    }
  }
}
