import { Global, Module, type DynamicModule } from '@nestjs/common';
import { LifecycleState } from '../common/lifecycle/lifecycle.state.js';
import { AppConfig } from './config.js';

/** Provides the validated AppConfig (built once in main or by a test) to every module. */
@Global()
@Module({})
export class ConfigModule {
  static register(config: AppConfig, lifecycle: LifecycleState): DynamicModule {
    return {
      module: ConfigModule,
      providers: [
        { provide: AppConfig, useValue: config },
        { provide: LifecycleState, useValue: lifecycle },
      ],
      exports: [AppConfig, LifecycleState],
    };
  }
}
