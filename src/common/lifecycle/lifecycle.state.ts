import { Injectable } from '@nestjs/common';

/** Process-wide lifecycle flags. `draining` turns readiness to 503 before anything closes. */
@Injectable()
export class LifecycleState {
  draining = false;
}
