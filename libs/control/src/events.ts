/**
 * Change notifications from the control plane to movers and directors. Topics are published
 * after the database transaction that made the change commits, so a subscriber that reloads
 * from the database sees the change. Delivery is at most once: subscribers also reload on a
 * timer, so a lost event only delays a change.
 */
export const EVENT_TOPICS = {
  exportsChanged: 'exports.changed',
  filesystemsChanged: 'filesystems.changed',
} as const;

export interface EventBus {
  publish(topic: string, payload: unknown): Promise<void>;
  subscribe(topic: string, handler: (payload: unknown) => void): void;
}

/**
 * The in-process bus of the embedded start. Handlers run on a later tick, never inside
 * `publish`, so a slow or failing subscriber cannot hold up or fail the request that published.
 */
export class InProcessEventBus implements EventBus {
  private readonly handlers = new Map<string, Array<(payload: unknown) => void>>();

  constructor(private readonly onHandlerError: (topic: string, err: unknown) => void = () => {}) {}

  publish(topic: string, payload: unknown): Promise<void> {
    for (const handler of this.handlers.get(topic) ?? []) {
      setImmediate(() => {
        try {
          handler(payload);
        } catch (err) {
          this.onHandlerError(topic, err);
        }
      });
    }
    return Promise.resolve();
  }

  subscribe(topic: string, handler: (payload: unknown) => void): void {
    const list = this.handlers.get(topic) ?? [];
    list.push(handler);
    this.handlers.set(topic, list);
  }
}
