import { createHmac, randomBytes } from 'node:crypto';

const SECRET_PREFIX = 'whsec_';

/** A new signing secret: `whsec_` + base64 of 32 random bytes (Standard Webhooks form). */
export function generateWebhookSecret(): string {
  return `${SECRET_PREFIX}${randomBytes(32).toString('base64')}`;
}

/**
 * The Standard Webhooks `webhook-signature` header: `v1,<base64 HMAC-SHA256>` of
 * `{msgId}.{timestamp}.{body}`, keyed by the base64-decoded secret, one per secret, space-separated.
 * Signed with node:crypto's HMAC rather than the `standardwebhooks` package: the scheme is this
 * one line, node's HMAC is native, and the tests verify every delivery with `standardwebhooks`,
 * which stays an independent implementation only if we do not sign with it too.
 */
export function signatureHeader(secrets: readonly string[], msgId: string, timestamp: number, body: string): string {
  return secrets
    .map((secret) => {
      const key = Buffer.from(secret.startsWith(SECRET_PREFIX) ? secret.slice(SECRET_PREFIX.length) : secret, 'base64');
      return `v1,${createHmac('sha256', key).update(`${msgId}.${timestamp}.${body}`).digest('base64')}`;
    })
    .join(' ');
}
