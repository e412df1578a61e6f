import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { SecretBox, SecretDecryptionError } from './secret-box.js';

describe('SecretBox (AES-256-GCM at rest)', () => {
  const key = randomBytes(32).toString('base64');

  it('round-trips, with a fresh IV each time', () => {
    const box = SecretBox.fromBase64(key);
    const a = box.encrypt('whsec_abc');
    const b = box.encrypt('whsec_abc');
    expect(a).not.toBe(b);
    expect(a).not.toContain('abc');
    expect(box.decrypt(a)).toBe('whsec_abc');
  });

  it('refuses a wrong key and tampered data', () => {
    const stored = SecretBox.fromBase64(key).encrypt('whsec_abc');
    expect(() => SecretBox.fromBase64(randomBytes(32).toString('base64')).decrypt(stored)).toThrow(
      SecretDecryptionError,
    );
    const [v, iv, tag, ct] = stored.split('.');
    const flipped = Buffer.from(ct, 'base64url');
    flipped[0] ^= 1;
    expect(() => SecretBox.fromBase64(key).decrypt([v, iv, tag, flipped.toString('base64url')].join('.'))).toThrow(
      SecretDecryptionError,
    );
    expect(() => SecretBox.fromBase64(key).decrypt('plaintext')).toThrow(SecretDecryptionError);
  });

  it('rejects a key that is not 32 bytes', () => {
    expect(() => SecretBox.fromBase64(randomBytes(16).toString('base64'))).toThrow();
  });

  it('outside production, keeps a generated key in a 0600 file and reuses it', () => {
    const file = path.join(mkdtempSync(path.join(tmpdir(), 'conveyor-key-')), 'nested', 'secrets.key');
    const first = SecretBox.fromKeyFile(file);
    expect(first.created).toBe(true);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const second = SecretBox.fromKeyFile(file);
    expect(second.created).toBe(false);
    expect(second.box.decrypt(first.box.encrypt('x'))).toBe('x');
    expect(Buffer.from(readFileSync(file, 'utf8').trim(), 'base64')).toHaveLength(32);
  });
});
