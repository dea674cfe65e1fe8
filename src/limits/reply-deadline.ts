// A deadline for a reply from another process that does not mistake this process's own busy event
// loop for a slow peer.
//
// A plain timer is not enough: when the event loop was busy past the deadline (a burst of calls,
// a loaded host), the timers phase runs before the poll phase that would read a reply which has
// long been waiting in the socket, so the timer fires first and a fast reply counts as a timeout.
// Here the timer only arms a check that runs after the next poll phase (setImmediate): by then
// every reply that arrived in time has been read, and only a peer that really has not answered
// is timed out.

export class ReplyTimeoutError extends Error {
  override readonly name = 'ReplyTimeoutError';
  constructor(ms: number) {
    super(`no reply within ${ms} ms`);
  }
}

/**
 * `reply`, or a ReplyTimeoutError once `ms` have passed and the reply has still not been read.
 * `late` is called with the reply if it arrives after the caller was told it timed out.
 */
export function withReplyDeadline<T>(reply: Promise<T>, ms: number, late?: (value: T) => void): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let timedOut = false;
    let settled = false;
    const timer = setTimeout(() => {
      setImmediate(() => {
        if (settled) return;
        timedOut = true;
        reject(new ReplyTimeoutError(ms));
      });
    }, ms);
    reply.then(
      (value) => {
        settled = true;
        clearTimeout(timer);
        if (timedOut) late?.(value);
        else resolve(value);
      },
      (err: unknown) => {
        settled = true;
        clearTimeout(timer);
        if (!timedOut) reject(err);
      },
    );
  });
}
