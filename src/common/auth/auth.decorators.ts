import { applyDecorators, createParamDecorator, SetMetadata, type ExecutionContext } from '@nestjs/common';
import { ApiBearerAuth } from '@nestjs/swagger';
import type { FastifyRequest } from 'fastify';
import { ApiProblems } from '../http/api-problems.decorator.js';
import type { Principal, Role } from './principal.js';

export const IS_PUBLIC = 'conveyor:public';
export const REQUIRED_ROLE = 'conveyor:role';

/**
 * No API key needed (health probes). Everything else is authenticated by default. A handler
 * decorator only: the guard never reads it from the class, so a route added to a controller of
 * public routes is authenticated unless it says otherwise.
 */
export const Public = (): MethodDecorator => SetMetadata(IS_PUBLIC, true);

/** Needs a valid key; documents the bearer scheme, the 401 and the rate limit's 429 (every authenticated route is limited). */
export const Authenticated = (): MethodDecorator & ClassDecorator =>
  applyDecorators(ApiBearerAuth('bearer'), ApiProblems(401, 'RATE_LIMITED'));

/** Needs a valid key of a user with `role`; documents 401, 403 and the rate limit's 429. */
export const RequireRole = (role: Role): MethodDecorator & ClassDecorator =>
  applyDecorators(SetMetadata(REQUIRED_ROLE, role), ApiBearerAuth('bearer'), ApiProblems(401, 403, 'RATE_LIMITED'));

export const AdminOnly = (): MethodDecorator & ClassDecorator => RequireRole('admin');

/** The authenticated caller. */
export const CurrentUser = createParamDecorator((_: unknown, ctx: ExecutionContext): Principal => {
  const principal = ctx.switchToHttp().getRequest<FastifyRequest>().principal;
  if (!principal) throw new Error('CurrentUser used on a public route');
  return principal;
});
