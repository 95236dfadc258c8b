/**
 * Reloading configuration from the database so that a caller always sees a load that started
 * after it asked (a MNT of an export created a moment ago relies on that).
 *
 * Invariants: loads never overlap, so an older result never replaces a newer one; a request
 * during a load runs one more load after it, shared by every request made meanwhile, and the
 * promise each caller gets resolves only after that one; `load` reports its own errors (a
 * rejected load still ends the wait). `stopped()` ends the loop early at shutdown.
 */
export class FreshLoad {
  private running: Promise<void> | undefined;
  private again = false;

  constructor(
    private readonly load: () => Promise<void>,
    private readonly stopped: () => boolean = () => false,
  ) {}

  run(): Promise<void> {
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = (async () => {
      do {
        this.again = false;
        await this.load().catch(() => undefined);
      } while (this.again && !this.stopped());
    })().finally(() => (this.running = undefined));
    return this.running;
  }

  /** The load in progress, if any (to wait for at shutdown). */
  get current(): Promise<void> | undefined {
    return this.running;
  }
}
