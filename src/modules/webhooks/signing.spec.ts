import { Webhook } from 'standardwebhooks';
import { describe, expect, it } from 'vitest';
import { generateWebhookSecret, signatureHeader } from './signing.js';

describe('Standard Webhooks signing', () => {
  const body = JSON.stringify({ id: 'evt_1', type: 'webhook.test', data: { a: 1 } });
  const timestamp = Math.floor(Date.now() / 1000);

  it('secrets are whsec_ + base64 of 32 random bytes', () => {
    const secret = generateWebhookSecret();
    expect(secret).toMatch(/^whsec_/);
    expect(Buffer.from(secret.slice(6), 'base64')).toHaveLength(32);
    expect(generateWebhookSecret()).not.toBe(secret);
  });

  it('the standardwebhooks package verifies our signature, and rejects a tampered body', () => {
    const secret = generateWebhookSecret();
    const headers = {
      'webhook-id': 'evt_1',
      'webhook-timestamp': String(timestamp),
      'webhook-signature': signatureHeader([secret], 'evt_1', timestamp, body),
    };
    expect(new Webhook(secret).verify(body, headers)).toMatchObject({ type: 'webhook.test' });
    expect(() => new Webhook(secret).verify(body.replace('1}', '2}'), headers)).toThrow();
  });

  it('signs with every active secret, space-separated; either verifies', () => {
    const [oldSecret, newSecret] = [generateWebhookSecret(), generateWebhookSecret()];
    const header = signatureHeader([newSecret, oldSecret], 'evt_1', timestamp, body);
    expect(header.split(' ')).toHaveLength(2);
    expect(header.split(' ').every((s) => s.startsWith('v1,'))).toBe(true);
    const headers = { 'webhook-id': 'evt_1', 'webhook-timestamp': String(timestamp), 'webhook-signature': header };
    expect(() => new Webhook(oldSecret).verify(body, headers)).not.toThrow();
    expect(() => new Webhook(newSecret).verify(body, headers)).not.toThrow();
    expect(() => new Webhook(generateWebhookSecret()).verify(body, headers)).toThrow();
  });
});
