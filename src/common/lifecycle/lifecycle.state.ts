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
  private shuttingDown = false;
  private readonly shutdownListeners: Array<() => void> = [];

  /** Calls `listener` once, when the shutdown begins (SIGTERM): background loops stop claiming then. */
  onShutdown(listener: () => void): void {
    this.shutdownListeners.push(listener);
  }

  /**
   * The shutdown begins (main.ts, on SIGTERM/SIGINT): readiness turns 503 and the listeners hear
   * it, at once and in the signal's own tick. Setting `draining` alone (tests) tells no listener.
   */
  beginShutdown(): void {
    this.draining = true;
    if (this.shuttingDown) return;
    this.shuttingDown = true;
    for (const listener of this.shutdownListeners) listener();
  }
}
