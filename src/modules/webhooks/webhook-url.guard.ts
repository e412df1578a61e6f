import { Injectable } from '@nestjs/common';
import { SsrfBlockedError, SsrfGuard } from '../../common/net/ssrf-guard.js';
import { ValidationFailedError } from '../../common/errors/domain-error.js';
import { AppConfig } from '../../config/config.js';

/**
 * The SSRF policy of webhook endpoints (WEBHOOK_ALLOWED_CIDRS, WEBHOOK_ALLOW_HTTP), shared by
 * registration (here: a 422 naming `url`) and by the dispatcher (at every delivery).
 */
@Injectable()
export class WebhookUrlGuard {
  readonly guard: SsrfGuard;

  constructor(config: AppConfig) {
    this.guard = new SsrfGuard({ allowedCidrs: config.webhooks.allowedCidrs, allowHttp: config.webhooks.allowHttp });
  }

  /** Resolves and vets `url`; a refused or unresolvable URL is a 422 on the `url` field. */
  async assertAllowed(url: string): Promise<void> {
    try {
      await this.guard.vet(url);
    } catch (error) {
      const message =
        error instanceof SsrfBlockedError
          ? error.message
          : `Cannot resolve the URL's host: ${(error as Error).message}`;
      throw new ValidationFailedError([{ field: 'url', message }], 'The webhook URL is not allowed');
    }
  }
}
