import { Logger, Module } from '@nestjs/common';
import { SecretBox } from '../../common/crypto/secret-box.js';
import { AppConfig } from '../../config/config.js';
import { DispatcherRepository } from './dispatcher/dispatcher.repository.js';
import { WebhookDispatcherService } from './dispatcher/webhook-dispatcher.service.js';
import { WebhookUrlGuard } from './webhook-url.guard.js';
import { WebhooksController } from './webhooks.controller.js';
import { WebhooksRepository } from './webhooks.repository.js';
import { WebhooksService } from './webhooks.service.js';

/** SECRETS_ENCRYPTION_KEY, or outside production a key file created on first start. */
function secretBoxFactory(config: AppConfig): SecretBox {
  if (config.secrets.key) return SecretBox.fromBase64(config.secrets.key);
  const { box, created } = SecretBox.fromKeyFile(config.secrets.keyFile);
  const logger = new Logger('Secrets');
  logger.warn(
    { keyFile: config.secrets.keyFile, created },
    'SECRETS_ENCRYPTION_KEY is not set: webhook secrets are encrypted with the key in this file. ' +
      'Set SECRETS_ENCRYPTION_KEY (the same on every instance) for any shared deployment.',
  );
  return box;
}

/**
 * Webhook endpoints, their deliveries and the dispatcher (which runs when ROLE runs workers).
 * The outbox SQL (outbox.ts) is imported by the modules whose state changes emit events.
 */
@Module({
  controllers: [WebhooksController],
  providers: [
    { provide: SecretBox, useFactory: secretBoxFactory, inject: [AppConfig] },
    WebhookUrlGuard,
    WebhooksRepository,
    WebhooksService,
    DispatcherRepository,
    WebhookDispatcherService,
  ],
  exports: [WebhookDispatcherService],
})
export class WebhooksModule {}
