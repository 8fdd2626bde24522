// The in-flight baseline for bench/hsm.ts: pkcs11js called directly on the main thread with its
// asynchronous (callback) C_Sign over N sessions, one call in flight per session — what an application
// using pkcs11js alone would do. `setMainThreadSignLatency` adds a fixed latency before the answer of every
// asynchronous C_Sign made on this thread (holding the session and the call, not a libuv thread), the same
// wrapper the testing worker puts on its threads' C_Sign: raw and the module's main-thread signing
// (signFrom "main") get exactly the same delay, as a stand-in for a network HSM. Benchmarks only: one of the
// files outside server/hsm that the boundary test lets import pkcs11js (server/hsm/testing/boundary-rules.ts).
import "server-only";
import pkcs11js from "pkcs11js";
import { type Curve, MECHANISM, type TestToken } from "../server/hsm/testing/bench";

const CKR_CRYPTOKI_ALREADY_INITIALIZED = 0x191;
const CKR_USER_ALREADY_LOGGED_IN = 0x100;

function codeOf(e: unknown): unknown {
  return e instanceof Error ? Reflect.get(e, "code") : undefined;
}

let mainThreadLatencyMs = 0;

// Installed when this file loads: pkcs11js copies its methods onto each PKCS11 object when it is made, so
// only objects made after this (raw's and the module's, both made at run time) go through it.
const original: unknown = Reflect.get(pkcs11js.PKCS11.prototype, "C_SignCallback");
Reflect.set(pkcs11js.PKCS11.prototype, "C_SignCallback", function (this: unknown, ...args: unknown[]) {
  if (typeof original !== "function") throw new Error("pkcs11js has no C_SignCallback");
  const callback = args[3];
  const latency = mainThreadLatencyMs;
  if (typeof callback !== "function" || latency === 0) return Reflect.apply(original, this, args);
  const later = (error: unknown, data: unknown) =>
    setTimeout(() => Reflect.apply(callback, undefined, [error, data]), latency);
  return Reflect.apply(original, this, [args[0], args[1], args[2], later]);
});

/**
 * From now on, every asynchronous C_Sign made on this thread (raw pkcs11js and the module's main-thread
 * signing alike) answers `ms` later than the library did (0: at once). Worker threads have their own
 * pkcs11js: the testing worker slows theirs (TestPool.setLatency).
 */
export function setMainThreadSignLatency(ms: number): void {
  mainThreadLatencyMs = ms;
}

export class RawAsyncHsm {
  private readonly module = new pkcs11js.PKCS11();
  private readonly slot: Buffer;
  private readonly free: Buffer[] = [];
  private readonly all: Buffer[] = [];
  private readonly waiting: (() => void)[] = [];

  constructor(token: TestToken) {
    const m = this.module;
    m.load(token.config.library);
    process.env.SOFTHSM2_CONF = token.conf;
    try {
      m.C_Initialize({ flags: pkcs11js.CKF_OS_LOCKING_OK });
    } catch (e) {
      if (codeOf(e) !== CKR_CRYPTOKI_ALREADY_INITIALIZED) throw e;
    }
    const slot = m.C_GetSlotList(true).find((s) => m.C_GetTokenInfo(s).label.trimEnd() === token.label);
    if (slot === undefined) throw new Error(`no token ${token.label}`);
    this.slot = slot;
    const first = this.openOne();
    try {
      m.C_Login(first, pkcs11js.CKU_USER, token.pin);
    } catch (e) {
      if (codeOf(e) !== CKR_USER_ALREADY_LOGGED_IN) throw e;
    }
  }

  private openOne(): Buffer {
    const s = this.module.C_OpenSession(this.slot, pkcs11js.CKF_SERIAL_SESSION);
    this.all.push(s);
    this.free.push(s);
    return s;
  }

  /** Sessions to sign on at once (one call in flight each). */
  sessions(count: number): void {
    while (this.all.length < count) this.openOne();
  }

  /** The private half of a key, as keys.ts would look it up. */
  findPrivate(ref: string): Buffer {
    const m = this.module;
    const [s] = this.all;
    if (s === undefined) throw new Error("no session");
    m.C_FindObjectsInit(s, [
      { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_PRIVATE_KEY },
      { type: pkcs11js.CKA_ID, value: Buffer.from(ref, "hex") },
    ]);
    try {
      const [handle] = m.C_FindObjects(s, 2);
      if (handle === undefined) throw new Error(`no key ${ref}`);
      return handle;
    } finally {
      m.C_FindObjectsFinal(s);
    }
  }

  /** One signature on a free session: C_SignInit, then asynchronous C_Sign (slowed by setMainThreadSignLatency). */
  async sign(curve: Curve, key: Buffer, data: Buffer): Promise<Buffer> {
    let session = this.free.pop();
    while (session === undefined) {
      await new Promise<void>((resolve) => this.waiting.push(resolve));
      session = this.free.pop();
    }
    const s = session;
    const m = this.module;
    const mechanism = { mechanism: curve === "ed25519" ? MECHANISM.eddsa : MECHANISM.ecdsa };
    try {
      m.C_SignInit(s, mechanism, key);
      const signature = await new Promise<Buffer>((resolve, reject) => {
        m.C_Sign(s, data, Buffer.allocUnsafe(64), (error, out) => {
          if (error) reject(error);
          else resolve(out);
        });
      });
      return signature;
    } finally {
      this.free.push(s);
      this.waiting.shift()?.();
    }
  }

  close(): void {
    for (const s of this.all.splice(0)) this.module.C_CloseSession(s);
  }
}
