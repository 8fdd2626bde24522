// The source of live updates: one watcher per process and database reads the head of the audit trail (its
// highest seq, the primary key) every half second while anyone listens, and tells listeners which subjects
// changed since. Every change writes its audit event in its own transaction, and the integrator seals events
// (gives them their seq) under one lock, batch after batch, each committed before the next begins, so seqs
// become visible in order: reading past the last head seen never misses a committed change, whichever process
// made it (PGlite in one process, or several servers on one PostgreSQL). A change shows here once sealed —
// before its own request returns, or within a second (server/audit/integrate.ts).
// It only reads; it must never hold a listener's slow work on its own timer.
import "server-only";
import { and, gt, lte, max } from "drizzle-orm";
import type { Db } from "@/db/client";
import { auditEvents } from "@/db/schema";

export const POLL_MS = 500;

/** Past this many new events at once (a batch of thousands of keys), listeners are told "everything". */
const MAX_SUBJECTS_READ = 1_000;

/** What moved between two heads: the subjects written (`operation:<id>`, `key:<id>`, ...), or all of them. */
export type Change = { head: number; subjects: ReadonlySet<string> | "all" };

export type Listener = { change: (change: Change) => void; close: () => void };

export class AuditHeadWatcher {
  private readonly listeners = new Set<Listener>();
  private timer: NodeJS.Timeout | undefined;
  private head: number | undefined;
  private polling: Promise<void> | undefined;
  private closed = false;
  private failing = false;

  constructor(
    private readonly db: Db,
    private readonly intervalMs = POLL_MS,
  ) {}

  /** The audit trail's head now (0 when empty), read fresh. */
  async currentHead(): Promise<number> {
    const [row] = await this.db.select({ head: max(auditEvents.seq) }).from(auditEvents);
    return Number(row?.head ?? 0);
  }

  get listening(): number {
    return this.listeners.size;
  }

  /** Adds a listener; polling runs while at least one listens. Returns the way to leave. */
  listen(listener: Listener): () => void {
    if (this.closed) {
      listener.close();
      return () => {};
    }
    this.listeners.add(listener);
    if (this.timer === undefined) {
      this.timer = setInterval(() => void this.poll(), this.intervalMs);
      this.timer.unref();
    }
    return () => {
      this.listeners.delete(listener);
      if (this.listeners.size === 0) this.stopTimer();
    };
  }

  /**
   * Resolves once the watcher has its mark (the head it reports changes after). A listener reads its first
   * snapshot after this, so a change committed meanwhile is above the mark and reaches it.
   */
  async ready(): Promise<void> {
    if (this.head !== undefined || this.closed) return;
    await this.poll();
    // The stream fails (and the browser reconnects later) rather than miss changes without its mark.
    if (this.head === undefined && !this.closed)
      throw new Error("live updates could not read the audit trail");
  }

  /** One poll now (the timer calls it). Never runs two at once. */
  poll(): Promise<void> {
    this.polling ??= this.readChanges().finally(() => {
      this.polling = undefined;
    });
    return this.polling;
  }

  private async readChanges(): Promise<void> {
    if (this.closed) return;
    try {
      const head = await this.currentHead();
      const previous = this.head;
      this.head = head;
      if (this.failing) {
        console.log("Keyward: live updates read the audit trail again.");
        this.failing = false;
      }
      // The first read only sets the mark: listeners read their own first snapshot when they start.
      if (previous === undefined || head <= previous) return;
      let subjects: Change["subjects"] = "all";
      if (head - previous <= MAX_SUBJECTS_READ) {
        const rows = await this.db
          .selectDistinct({ subject: auditEvents.subject })
          .from(auditEvents)
          .where(and(gt(auditEvents.seq, previous), lte(auditEvents.seq, head)));
        subjects = new Set(rows.map((r) => r.subject));
      }
      const change: Change = { head, subjects };
      for (const listener of [...this.listeners]) listener.change(change);
    } catch (e) {
      // A database that is closing or briefly unreachable: say so once, keep the mark, try at the next tick.
      if (!this.failing) console.error("Keyward: live updates could not read the audit trail's head", e);
      this.failing = true;
    }
  }

  private stopTimer(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
    this.head = undefined;
  }

  /** Ends every listener (their subscriptions return) and stops polling for good. */
  close(): void {
    this.closed = true;
    this.stopTimer();
    for (const listener of [...this.listeners]) listener.close();
    this.listeners.clear();
  }
}

/** Does a change touch any subject of these kinds (`operation`, `key`, `member`, ...) or exactly one of these? */
export function touches(
  change: Change,
  match: { kinds?: readonly string[]; subjects?: readonly string[] },
): boolean {
  if (change.subjects === "all") return true;
  for (const subject of change.subjects) {
    if (match.subjects?.includes(subject)) return true;
    const colon = subject.indexOf(":");
    if (colon > 0 && match.kinds?.includes(subject.slice(0, colon))) return true;
  }
  return false;
}

// One watcher per database handle in this process (the server has one; tests open several), kept on
// globalThis so a dev-mode module reload does not start a second timer beside the first.
const holder = globalThis as typeof globalThis & { __keywardLiveWatchers?: Map<Db, AuditHeadWatcher> };

export function watcherFor(db: Db): AuditHeadWatcher {
  holder.__keywardLiveWatchers ??= new Map();
  let watcher = holder.__keywardLiveWatchers.get(db);
  if (watcher === undefined) {
    watcher = new AuditHeadWatcher(db);
    holder.__keywardLiveWatchers.set(db, watcher);
  }
  return watcher;
}

/** On shutdown: ends every live subscription (their streams close) and stops every watcher's timer. */
export function closeLiveWatchers(): void {
  const watchers = holder.__keywardLiveWatchers;
  holder.__keywardLiveWatchers = undefined;
  for (const watcher of watchers?.values() ?? []) watcher.close();
}
