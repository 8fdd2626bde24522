// One HsmPool worker thread: opens the token and ONE long-lived read/write user session, then runs the jobs
// the pool posts, in order, on that session, and posts their outcomes back. It is started through an entry
// file (worker-entry.ts, bundled into the installation by scripts/build-hsm-worker.mjs) and must never run
// on the main thread, never call C_Finalize (the library is shared by every thread of the process) and
// never log the PIN.
import "server-only";
import { isMainThread, type MessagePort, parentPort, workerData } from "node:worker_threads";
import { HsmError, toHsmError } from "../pkcs11/errors";
import { type HsmOperation, refOf, runOperation } from "./operations";
import { AsyncSigner, signJob } from "./async-signer";
import {
  type LibraryDescription,
  libraryOf,
  type OpenSession,
  openSession,
  openToken,
  type Session,
} from "../pkcs11/pkcs11";
import {
  type FromWorker,
  fromWireRequest,
  type JobOutcome,
  type LearnedKey,
  type PoolJob,
  type PoolWorkerData,
  postableValue,
  type ToWorker,
  toWireBytes,
  toWireError,
  wallClock,
} from "./pool-protocol";

function post(port: MessagePort, message: FromWorker): void {
  port.postMessage(message);
}

function text(value: unknown): string | undefined {
  return typeof value === "string" ? value : undefined;
}

function startData(value: unknown): PoolWorkerData {
  // workerData comes from HsmPool itself; this check only catches a worker started some other way.
  const field = (from: unknown, name: string): unknown =>
    typeof from === "object" && from !== null ? Reflect.get(from, name) : undefined;
  const target = field(value, "target");
  const library = text(field(target, "library"));
  const tokenLabel = text(field(target, "tokenLabel"));
  const pin = text(field(value, "pin"));
  if (library === undefined || tokenLabel === undefined || pin === undefined) {
    throw new Error("pool-worker: workerData needs { target: { library, tokenLabel }, pin }");
  }
  const sessions = field(value, "signSessions");
  const signSessions =
    typeof sessions === "number" && Number.isInteger(sessions) && sessions >= 0 ? sessions : 0;
  const source = field(target, "pinSource");
  const user = text(field(source, "user"));
  const so = text(field(source, "so"));
  return {
    target: {
      library,
      tokenLabel,
      softhsmConf: text(field(target, "softhsmConf")),
      pinSource: user !== undefined && so !== undefined ? { user, so } : undefined,
    },
    pin,
    signSessions,
  };
}

/**
 * The thread's one session. A session the HSM no longer knows (stale-session: handle invalid, login lost)
 * is dropped and a new one opened and logged in for the next call; a PIN refused then is kept and answered
 * from then on without asking the token again, because a wrong PIN tried again and again locks it.
 */
class ThreadSession {
  private open: OpenSession | undefined;
  private refused: HsmError | undefined;

  constructor(private readonly data: PoolWorkerData) {
    this.open = this.openNow();
  }

  private openNow(): OpenSession {
    // openToken loads the library and calls C_Initialize with CKF_OS_LOCKING_OK; another thread having
    // initialised it first (CKR_CRYPTOKI_ALREADY_INITIALIZED) counts as success there.
    return openSession(openToken(this.data.target), { write: true, pin: this.data.pin });
  }

  get session(): Session {
    if (this.refused !== undefined) throw this.refused;
    if (this.open === undefined) {
      try {
        this.open = this.openNow();
      } catch (e) {
        const error = toHsmError(e, { operation: "C_OpenSession", tokenLabel: this.data.target.tokenLabel });
        if (error.reason === "pin-incorrect" || error.reason === "pin-locked") this.refused = error;
        throw error;
      }
    }
    return this.open.session;
  }

  /** The open session, if any: the one whose cached key handles a "forget" drops. */
  get cached(): Session | undefined {
    return this.open?.session;
  }

  failed(error: HsmError): void {
    if (error.kind !== "stale-session") return;
    this.open?.close();
    this.open = undefined;
  }

  close(): void {
    this.open?.close();
    this.open = undefined;
  }
}

/** A long batch is answered in parts, at least this often, so the first callers need not wait for the last. */
const ANSWER_EVERY_MS = 1;

/**
 * Extra operations an entry file may register, run on the worker thread like any job. The installed entry
 * registers none; they exist so that tests can add theirs (server/hsm/testing) without the runtime carrying them.
 */
export type WorkerExtensions = Readonly<Record<string, (args: readonly number[]) => number | undefined>>;

/**
 * Runs one operation and, when it left this session with a key handle it did not have before (made,
 * imported, or found by a search), says so, so the pool's handle index learns it and no other thread
 * searches for that key again.
 */
function runAndLearn(session: Session, request: HsmOperation): { value: unknown; learned?: LearnedKey } {
  const named = refOf(request);
  const before = named === undefined ? undefined : session.keys.get(named);
  const value = runOperation(session, request);
  // A generate without a caller's reference names its key only in its result.
  const ref =
    named ??
    (request.op === "generate" && typeof value === "object" && value !== null
      ? Reflect.get(value, "ref")
      : undefined);
  const after = typeof ref === "string" ? session.keys.get(ref) : undefined;
  if (typeof ref !== "string" || after === undefined || after === before) return { value };
  return { value, learned: { ref, handle: toWireBytes(after.handle), curve: after.curve } };
}

function runJob(thread: ThreadSession, job: PoolJob, extensions: WorkerExtensions): JobOutcome {
  const operation = job.work.kind === "operation" ? job.work.request.op : job.work.name;
  if (wallClock() > job.deadline) {
    // The caller was already answered "timeout"; doing the call now would only do what nobody waits for.
    const error = new HsmError("timeout", `${operation} was not started: its deadline had passed.`, {
      operation,
    });
    return { id: job.id, ok: false, error: toWireError(error, operation) };
  }
  try {
    if (job.work.kind === "extension") {
      const extension = Object.hasOwn(extensions, job.work.name) ? extensions[job.work.name] : undefined;
      if (extension === undefined) {
        throw new HsmError("invalid-request", `This HSM worker has no operation '${job.work.name}'.`, {
          operation,
        });
      }
      return { id: job.id, ok: true, value: extension(job.work.args) };
    }
    const { value, learned } = runAndLearn(thread.session, fromWireRequest(job.work.request));
    return {
      id: job.id,
      ok: true,
      value: postableValue(value),
      ...(learned === undefined ? {} : { learned }),
    };
  } catch (e) {
    const error = toHsmError(e, { operation });
    thread.failed(error);
    return { id: job.id, ok: false, error: toWireError(error, operation) };
  }
}

/**
 * Hands a sign job to the asynchronous signer; false for any other job (run synchronously). Its outcome is
 * answered later, when C_Sign calls back.
 */
function startAsync(
  thread: ThreadSession,
  signer: AsyncSigner,
  job: PoolJob,
  answer: (outcome: JobOutcome) => void,
): boolean {
  if (job.work.kind !== "operation" || job.work.request.op !== "sign") return false;
  if (wallClock() > job.deadline) return false; // runJob answers it "not started"
  const request = fromWireRequest(job.work.request);
  if (request.op !== "sign") return false;
  const { id } = job;
  signer.sign(
    signJob(request, (outcome) => {
      if (outcome.ok === "elsewhere") {
        // Only a signer made with `searches: false` answers this; a thread's signer searches itself.
        answer(runJob(thread, job, {}));
        return;
      }
      if (!outcome.ok) {
        // A lost login shows on a signing session first: the thread's own session has lost it too, so it is
        // reopened (and logged in, once) before the signer's sessions are replaced.
        thread.failed(outcome.error);
        answer({ id, ok: false, error: toWireError(outcome.error, "sign") });
        return;
      }
      const learned = outcome.learned;
      answer({
        id,
        ok: true,
        value: postableValue(outcome.value),
        ...(learned === undefined
          ? {}
          : {
              learned: {
                ref: learned.ref,
                handle: toWireBytes(learned.key.handle),
                curve: learned.key.curve,
              },
            }),
      });
    }),
  );
  return true;
}

/**
 * Replaces the signer's lost sessions once the thread's own session is logged in (reopening it if needed,
 * with its memory of a refused PIN); if that fails, signing falls back to the thread's session, which
 * answers the error.
 */
function refillSigner(thread: ThreadSession, signer: AsyncSigner): void {
  try {
    void thread.session;
  } catch {
    return;
  }
  signer.refill();
}

/** Outcomes of asynchronous calls, posted together once per turn of this thread's event loop. */
let later: JobOutcome[] = [];
function answerLater(port: MessagePort, outcome: JobOutcome): void {
  later.push(outcome);
  if (later.length > 1) return;
  setImmediate(() => {
    const outcomes = later;
    later = [];
    post(port, { type: "done", outcomes });
  });
}

function main(port: MessagePort, extensions: WorkerExtensions): void {
  const data = startData(workerData);
  const initStartedAt = wallClock();
  let thread: ThreadSession;
  let signer: AsyncSigner | undefined;
  let library: LibraryDescription;
  try {
    thread = new ThreadSession(data);
    library = libraryOf(thread.session.token);
    if (data.signSessions > 0) signer = new AsyncSigner(data, data.signSessions);
  } catch (e) {
    post(port, { type: "failed", error: toWireError(e, "start") });
    port.close();
    return;
  }
  // The listener's type is what HsmPool posts; nothing else can reach this port.
  port.on("message", (message: ToWorker) => {
    switch (message.type) {
      case "run": {
        // Calls come in batches (a message costs about as much as a P-256 signature) and are answered in
        // parts: every ANSWER_EVERY_MS of work and at the end of the batch.
        let outcomes: JobOutcome[] = [];
        let since = performance.now();
        for (const job of message.jobs) {
          if (signer !== undefined && signer.missing > 0) refillSigner(thread, signer);
          if (
            signer !== undefined &&
            signer.capacity > 0 &&
            startAsync(thread, signer, job, (o) => answerLater(port, o))
          ) {
            continue;
          }
          outcomes.push(runJob(thread, job, extensions));
          if (performance.now() - since >= ANSWER_EVERY_MS) {
            post(port, { type: "done", outcomes });
            outcomes = [];
            since = performance.now();
          }
        }
        if (outcomes.length > 0) post(port, { type: "done", outcomes });
        return;
      }
      case "forget":
        // Another worker destroyed the key: drop this session's cached handle (SoftHSM never reuses one,
        // other HSMs may).
        if (thread.cached !== undefined) runOperation(thread.cached, { op: "forget", ref: message.ref });
        signer?.forget(message.ref);
        return;
      case "stop-async-signing":
        // Sent before any job: nothing is running on these sessions.
        signer?.close();
        signer = undefined;
        return;
      case "close":
        signer?.close();
        thread.close();
        post(port, { type: "closed" });
        port.close();
        return;
    }
  });
  post(port, { type: "ready", initStartedAt, readyAt: wallClock(), library });
}

/** Serves the pool on this worker thread; called once by the entry file. */
export function serveWorker(extensions: WorkerExtensions = {}): void {
  if (isMainThread || parentPort === null) {
    throw new Error("The HSM pool worker runs only as an HsmPool worker thread");
  }
  main(parentPort, extensions);
}
