import { Global, Module } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { ApiKeyAuthenticator, AuthGuard } from '../../common/auth/auth.guard.js';
import { AdminBootstrapService } from './admin-bootstrap.service.js';
import { ApiKeysRepository } from './api-keys.repository.js';
import { AuthService } from './auth.service.js';
import { MeController } from './me.controller.js';
import { PrincipalCache } from './principal-cache.js';
import { UsersRepository } from './users.repository.js';
import { UsersService } from './users.service.js';

/** Users, tiers and API keys, and the global bearer-key guard. */
@Global()
@Module({
  controllers: [MeController],
  providers: [
    UsersRepository,
    ApiKeysRepository,
    UsersService,
    AuthService,
    AdminBootstrapService,
    PrincipalCache,
    { provide: ApiKeyAuthenticator, useExisting: AuthService },
    { provide: APP_GUARD, useClass: AuthGuard },
  ],
  exports: [UsersService, AuthService, ApiKeyAuthenticator],
})
export class AuthModule {}
