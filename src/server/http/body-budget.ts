/**
 * The server-wide budget for request memory: the bytes of request bodies held while they are
 * read and appended, plus an estimate of what decoding a JSON body costs per message. Bodies
 * are charged as their bytes arrive, never by what `Content-Length` announces, so connections
 * that announce a large body and then stall hold nothing.
 *
 * Past the budget, a request waits (paused, so TCP pushes back on the client) until the
 * requests that came before it finish, for at most `waitMs`; then it is refused with 503 and
 * `Retry-After`. The oldest request holding memory always proceeds, so the server keeps making
 * progress however many requests arrive at once, and one request larger than the budget (up
 * to `bodyBytesMax`) can still be served when it is alone.
 */
import { TidemarkError } from "../../errors.js";

/** The memory one request holds in the budget. */
export class BodyAccount {
  held = 0;
  /** Set while it waits for room. */
  wake: (() => void) | undefined;
  constructor(readonly order: number) {}
}

export class BodyBudget {
  private used = 0;
  private nextOrder = 0;
  /** Accounts holding memory, oldest first (a Set keeps insertion order). */
  private readonly holders = new Set<BodyAccount>();

  constructor(
    readonly bytesMax: number,
    /** How long a request waits for room before it is refused with 503. */
    readonly waitMs: number,
  ) {}

  get bytesUsed(): number {
    return this.used;
  }

  open(): BodyAccount {
    return new BodyAccount(this.nextOrder++);
  }

  /** Charges bytes already in memory (a chunk that arrived); see `mayProceed`. */
  charge(account: BodyAccount, bytes: number): void {
    if (bytes <= 0) return;
    if (account.held === 0) this.holders.add(account);
    account.held += bytes;
    this.used += bytes;
  }

  /** True when the account may take more: there is room, or it is the oldest holder. */
  mayProceed(account: BodyAccount): boolean {
    if (this.used <= this.bytesMax) return true;
    return this.holders.values().next().value === account;
  }

  /** Resolves once `account` may proceed; throws SERVER_BUSY after `waitMs`. */
  waitForRoom(account: BodyAccount): Promise<void> {
    if (this.mayProceed(account)) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        account.wake = undefined;
        reject(
          new TidemarkError(
            "SERVER_BUSY",
            `the server holds as many request bodies as it allows (bodyBytesInFlightMax, ${this.bytesMax} bytes); retry shortly`,
          ),
        );
      }, this.waitMs);
      timer.unref();
      account.wake = () => {
        if (!this.mayProceed(account)) return;
        clearTimeout(timer);
        account.wake = undefined;
        resolve();
      };
    });
  }

  /** Gives back everything the account holds (when its request is over). */
  release(account: BodyAccount): void {
    if (account.held === 0) return;
    this.used -= account.held;
    account.held = 0;
    this.holders.delete(account);
    for (const holder of [...this.holders]) holder.wake?.();
  }
}
