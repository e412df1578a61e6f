import { Injectable, type CanActivate, type ExecutionContext } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { FastifyRequest } from 'fastify';
import { DomainError } from '../errors/domain-error.js';
import { IS_PUBLIC, REQUIRED_ROLE } from './auth.decorators.js';
import { bindUser } from '../context/statement-context.js';
import type { Principal, Role } from './principal.js';

/** Resolves an API key to its principal; implemented by the auth module. */
export abstract class ApiKeyAuthenticator {
  abstract authenticate(key: string): Promise<Principal | undefined>;
}

const BEARER = /^Bearer\s+(\S+)\s*$/i;

/** The key of an `Authorization: Bearer <key>` header, or undefined for anything else. */
export function bearerKey(header: string | undefined): string | undefined {
  return header ? BEARER.exec(header)?.[1] : undefined;
}

/**
 * Global guard: every route needs `Authorization: Bearer <key>` unless its handler is marked
 * `@Public()` (never inherited from the class). 401 for a missing, unknown or revoked key; 403
 * when the role is insufficient.
 */
@Injectable()
export class AuthGuard implements CanActivate {
  constructor(
    private readonly reflector: Reflector,
    private readonly authenticator: ApiKeyAuthenticator,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const role = this.reflector.getAllAndOverride<Role | undefined>(REQUIRED_ROLE, [
      context.getHandler(),
      context.getClass(),
    ]);
    // A handler that needs a role is never public, even if also marked @Public() (a programming
    // error). Failing closed here, on every request, rather than checking the combination at boot:
    // it holds for every route however it was registered, and the mistake still shows (as a 401)
    // the first time a test calls the route.
    if (!role && this.reflector.get<boolean | undefined>(IS_PUBLIC, context.getHandler())) return true;

    const request = context.switchToHttp().getRequest<FastifyRequest>();
    const header = request.headers.authorization;
    if (!header) throw new DomainError('UNAUTHORIZED', 'Missing Authorization header; send "Bearer <api key>"');
    const key = bearerKey(header);
    if (!key) throw new DomainError('UNAUTHORIZED', 'Authorization header must be "Bearer <api key>"');

    const principal = await this.authenticator.authenticate(key);
    if (!principal) throw new DomainError('UNAUTHORIZED', 'Invalid or revoked API key');
    request.principal = principal;
    bindUser(principal.userId);

    if (role === 'admin' && principal.role !== 'admin') {
      throw new DomainError('FORBIDDEN', 'This operation needs an admin API key');
    }
    return true;
  }
}
