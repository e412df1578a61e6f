import { Global, Module } from '@nestjs/common';
import { RedisService } from './redis.service.js';

/** The process's one Redis connection (or none, when `REDIS_URL` is unset), for every module that uses Redis. */
@Global()
@Module({
  providers: [RedisService],
  exports: [RedisService],
})
export class RedisModule {}
