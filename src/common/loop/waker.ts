/**
 * The sleep between two claim rounds of a polling loop (job worker, webhook dispatcher): it ends
 * at the poll interval or at a wake-up (a NOTIFY, a freed slot). A wake-up that arrives while a
 * round is running is kept and skips the next sleep — otherwise a notification landing during a
 * claim would wait a whole poll interval.
 */
export class Waker {
  private sleeper: (() => void) | undefined;
  private pending = false;

  /** Call as a round starts: a wake-up from now on means "look again". */
  startRound(): void {
    this.pending = false;
  }

  wake(): void {
    if (this.sleeper) this.sleeper();
    else this.pending = true;
  }

  /** Sleeps up to `ms`, or not at all if a wake-up came since the round started. */
  async sleep(ms: number): Promise<void> {
    if (this.pending) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.sleeper = () => {
        clearTimeout(timer);
        resolve();
      };
    });
    this.sleeper = undefined;
  }
}
