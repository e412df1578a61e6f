import { Module } from '@nestjs/common';
import { JobTypeRegistry } from './job-type.registry.js';

/** The job type catalog: built-in and remote types, their schemas and handlers. Depends on no feature module. */
@Module({
  providers: [JobTypeRegistry],
  exports: [JobTypeRegistry],
})
export class JobTypesModule {}
