/** A decode failure: the input is short, malformed or over a limit. Never a bug of ours. */
export class XdrError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'XdrError';
  }
}
