import { Injectable } from '@nestjs/common';

/**
 * Process-wide lifecycle flags. `draining` turns readiness to 503 before anything closes, while
 * the instance still serves; `closing` is set once it stops: a request that still arrives (on a
 * kept-alive connection) is answered 503 problem+json.
 */
@Injectable()
export class LifecycleState {
  draining = false;
  closing = false;
}
