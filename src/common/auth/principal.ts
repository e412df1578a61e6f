export type Role = 'user' | 'admin';
export type Tier = 'free' | 'pro' | 'enterprise';

/** Who is calling: resolved from the API key by the auth guard, read by controllers via `@CurrentUser()`. */
export interface Principal {
  userId: string;
  role: Role;
  tier: Tier;
  apiKeyId: string;
}

declare module 'fastify' {
  interface FastifyRequest {
    principal?: Principal;
  }
}
