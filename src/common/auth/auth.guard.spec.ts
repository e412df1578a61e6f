import 'reflect-metadata';
import { Controller, Get } from '@nestjs/common';
import { APP_FILTER, APP_GUARD } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { Test } from '@nestjs/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ProblemFilter } from '../errors/problem.filter.js';
import { AdminOnly, Public } from './auth.decorators.js';
import { ApiKeyAuthenticator, AuthGuard } from './auth.guard.js';
import type { Principal } from './principal.js';

const PRINCIPALS: Record<string, Principal> = {
  'user-key': { userId: 'u1', role: 'user', tier: 'free', apiKeyId: 'k1' },
  'admin-key': { userId: 'u2', role: 'admin', tier: 'free', apiKeyId: 'k2' },
};

/** Stands in for the auth module: the guard's decisions are the point here, not the key lookup. */
class FixedKeys extends ApiKeyAuthenticator {
  authenticate(key: string): Promise<Principal | undefined> {
    return Promise.resolve(PRINCIPALS[key]);
  }
}

/** What the health controller was: public at class level, then a route added to it. */
// @ts-expect-error -- @Public() is a method decorator only; this proves the guard ignores it on a class anyway.
@Public()
@Controller('probes')
class ProbesController {
  @Get('open')
  @Public()
  open(): string {
    return 'open';
  }

  @Get('inherited')
  inherited(): string {
    return 'inherited';
  }

  @Get('admin')
  @AdminOnly()
  admin(): string {
    return 'admin';
  }

  /** Both at once is a programming error: the role wins, the route is not public. */
  @Get('both')
  @Public()
  @AdminOnly()
  both(): string {
    return 'both';
  }
}

@AdminOnly()
@Controller('admin')
class AdminController {
  @Get('public')
  @Public()
  leaked(): string {
    return 'leaked';
  }
}

describe('AuthGuard', () => {
  let app: NestFastifyApplication;

  beforeAll(async () => {
    const module = await Test.createTestingModule({
      controllers: [ProbesController, AdminController],
      providers: [
        { provide: ApiKeyAuthenticator, useClass: FixedKeys },
        { provide: APP_GUARD, useClass: AuthGuard },
        { provide: APP_FILTER, useClass: ProblemFilter },
      ],
    }).compile();
    app = module.createNestApplication<NestFastifyApplication>(new FastifyAdapter(), { logger: false });
    await app.init();
    await app.getHttpAdapter().getInstance().ready();
  });
  afterAll(() => app?.close());

  async function get(url: string, key?: string): Promise<{ status: number; body: string }> {
    const response = await app.inject({
      method: 'GET',
      url,
      headers: key ? { authorization: `Bearer ${key}` } : {},
    });
    return { status: response.statusCode, body: response.body };
  }

  it('lets a handler marked @Public() through without a key', async () => {
    expect(await get('/probes/open')).toEqual({ status: 200, body: 'open' });
  });

  it('does not inherit @Public() from the class: an unmarked handler needs a key', async () => {
    const anonymous = await get('/probes/inherited');
    expect(anonymous.status).toBe(401);
    expect(JSON.parse(anonymous.body)).toMatchObject({ code: 'UNAUTHORIZED' });
    expect(await get('/probes/inherited', 'user-key')).toEqual({ status: 200, body: 'inherited' });
  });

  it('an admin-only handler in a class marked @Public() is 401 without a key, 403 for a user, 200 for an admin', async () => {
    expect((await get('/probes/admin')).status).toBe(401);
    expect((await get('/probes/admin', 'nobody-key')).status).toBe(401);
    expect((await get('/probes/admin', 'user-key')).status).toBe(403);
    expect(await get('/probes/admin', 'admin-key')).toEqual({ status: 200, body: 'admin' });
  });

  it('a handler with both @Public() and a role is not public', async () => {
    expect((await get('/probes/both')).status).toBe(401);
    expect((await get('/probes/both', 'user-key')).status).toBe(403);
    expect(await get('/probes/both', 'admin-key')).toEqual({ status: 200, body: 'both' });
    expect((await get('/admin/public')).status).toBe(401);
    expect((await get('/admin/public', 'user-key')).status).toBe(403);
  });
});
