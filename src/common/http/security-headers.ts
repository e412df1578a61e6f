import type { SecurityHeadersOptions } from '@nestjs/common';

/**
 * The Content-Security-Policy of API responses: JSON, CSV and problem documents load nothing and
 * may not be framed. `/docs` (Swagger UI) replaces it with {@link DOCS_CONTENT_SECURITY_POLICY}.
 */
export const API_CONTENT_SECURITY_POLICY = "default-src 'none'; frame-ancestors 'none'";

/**
 * Swagger UI's page: its scripts and stylesheet are files served from `/docs/` (no inline script),
 * but the page has inline `<style>` blocks and `style` attributes, and the CSS embeds data: images.
 * "Try it out" calls the API on the same origin.
 */
export const DOCS_CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "font-src 'self' data:",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'self'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

/**
 * `app.useSecurityHeaders()` options: helmet's defaults, except a CSP for an API (above), framing
 * denied outright, and no Strict-Transport-Security: TLS ends in front of Conveyor, and HSTS (with
 * `includeSubDomains`) is a decision for whoever owns the host name and its certificate.
 */
export const SECURITY_HEADERS: SecurityHeadersOptions = {
  contentSecurityPolicy: {
    useDefaults: false,
    directives: { defaultSrc: ["'none'"], frameAncestors: ["'none'"] },
  },
  strictTransportSecurity: false,
  xFrameOptions: { action: 'deny' },
  referrerPolicy: { policy: 'no-referrer' },
};

/**
 * Headers of a response written before Fastify's hooks run (a request the router or Node's HTTP
 * parser rejected), where the headers above are not applied: the ones that matter for an error body.
 */
export const RAW_RESPONSE_SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'cache-control': 'no-store',
  'content-security-policy': API_CONTENT_SECURITY_POLICY,
  'referrer-policy': 'no-referrer',
  'x-content-type-options': 'nosniff',
};
