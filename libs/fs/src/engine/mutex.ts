/**
 * A FIFO async mutex. Invariant: at most one holder; waiters are served in arrival order, so no
 * operation starves behind a stream of later ones.
 */
export class Mutex {
  private locked = false;
  private readonly waiters: Array<() => void> = [];

  get isLocked(): boolean {
    return this.locked;
  }

  get waiting(): number {
    return this.waiters.length;
  }

  async lock(): Promise<() => void> {
    if (this.locked) {
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    } else {
      this.locked = true;
    }
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.waiters.shift();
      // Hand the lock over directly so nobody can barge in between release and wake-up.
      if (next) next();
      else this.locked = false;
    };
  }

  async run<T>(fn: () => Promise<T>): Promise<T> {
    const release = await this.lock();
    try {
      return await fn();
    } finally {
      release();
    }
  }
}

/**
 * A FIFO async reader/writer lock. Invariants: either one writer or any number of readers hold
 * it, never both; waiters are granted in arrival order (a reader arriving after a waiting writer
 * queues behind it), so a stream of reads cannot starve a write nor the reverse. An uncontended
 * acquisition takes effect synchronously inside the call, before its promise settles.
 */
export class RwLock {
  private readers = 0;
  private writer = false;
  private readonly waiters: Array<{ exclusive: boolean; grant: () => void }> = [];

  /** Held or waited for by anyone: the owner of the lock may not be forgotten yet. */
  get isBusy(): boolean {
    return this.writer || this.readers > 0 || this.waiters.length > 0;
  }

  read(): Promise<() => void> {
    if (!this.writer && this.waiters.length === 0) {
      this.readers++;
      return Promise.resolve(this.releaser(false));
    }
    return new Promise((resolve) => this.waiters.push({ exclusive: false, grant: () => resolve(this.releaser(false)) }));
  }

  /** A shared hold taken now, or undefined when a writer holds or anyone waits (it never queues). */
  tryRead(): (() => void) | undefined {
    if (this.writer || this.waiters.length > 0) return undefined;
    this.readers++;
    return this.releaser(false);
  }

  write(): Promise<() => void> {
    if (!this.writer && this.readers === 0 && this.waiters.length === 0) {
      this.writer = true;
      return Promise.resolve(this.releaser(true));
    }
    return new Promise((resolve) => this.waiters.push({ exclusive: true, grant: () => resolve(this.releaser(true)) }));
  }

  private releaser(exclusive: boolean): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      if (exclusive) this.writer = false;
      else this.readers--;
      this.grant();
    };
  }

  /** Hands the lock to the head of the queue: one writer, or every reader up to the next writer. */
  private grant(): void {
    if (this.writer || this.readers > 0) return;
    const head = this.waiters[0];
    if (!head) return;
    if (head.exclusive) {
      this.waiters.shift();
      this.writer = true;
      head.grant();
      return;
    }
    while (this.waiters.length > 0 && !this.waiters[0]!.exclusive) {
      this.readers++;
      this.waiters.shift()!.grant();
    }
  }
}
