// The ceiling for bench/hsm.ts's pools: raw pkcs11js on N plain worker threads, one session each, each
// signing in a tight loop. What a pool of N reaches is bounded by this, not by N × one thread: SoftHSM does
// not scale linearly (it locks and makes system calls per operation). Benchmarks only (nothing in the
// server imports it); one of the two files outside server/hsm the boundary test lets use pkcs11js.
import "server-only";
import { Worker } from "node:worker_threads";
import { type Curve, MECHANISM, type TestToken } from "../server/hsm/testing/bench";

// Plain CommonJS so it runs as an eval worker without a TypeScript loader.
const LOOP = `
const { parentPort, workerData: w } = require("node:worker_threads");
const p = require("pkcs11js");
const m = new p.PKCS11();
m.load(w.library);
try { m.C_Initialize({ flags: p.CKF_OS_LOCKING_OK }); } catch (e) { if (e.code !== 0x191) throw e; }
const slot = m.C_GetSlotList(true).find((s) => m.C_GetTokenInfo(s).label.trimEnd() === w.label);
const s = m.C_OpenSession(slot, p.CKF_SERIAL_SESSION | p.CKF_RW_SESSION);
try { m.C_Login(s, p.CKU_USER, w.pin); } catch (e) { if (e.code !== 0x100) throw e; }
m.C_FindObjectsInit(s, [{ type: p.CKA_CLASS, value: p.CKO_PRIVATE_KEY }, { type: p.CKA_ID, value: Buffer.from(w.ref, "hex") }]);
const [key] = m.C_FindObjects(s, 1);
m.C_FindObjectsFinal(s);
const data = Buffer.from(w.data);
const out = Buffer.alloc(64);
parentPort.on("message", (msg) => {
  if (msg === "close") { m.C_CloseSession(s); parentPort.close(); return; }
  const end = performance.now() + msg;
  let n = 0;
  while (performance.now() < end) { m.C_SignInit(s, { mechanism: w.mechanism }, key); m.C_Sign(s, data, out); n++; }
  parentPort.postMessage(n);
});
parentPort.postMessage("ready");
`;

function answer<T>(worker: Worker): Promise<T> {
  return new Promise((resolve, reject) => {
    const fail = (e: Error) => reject(e);
    worker.once("message", (value: T) => {
      worker.off("error", fail);
      resolve(value);
    });
    worker.once("error", fail);
  });
}

export class RawThreads {
  private constructor(private readonly workers: Worker[]) {}

  /** Starts `count` threads one after another, each with its own session and the key's handle. */
  static async start(
    token: TestToken,
    curve: Curve,
    ref: string,
    data: Uint8Array,
    count: number,
  ): Promise<RawThreads> {
    const workers: Worker[] = [];
    const mechanism = curve === "ed25519" ? MECHANISM.eddsa : MECHANISM.ecdsa;
    for (let i = 0; i < count; i++) {
      const workerData = {
        library: token.config.library,
        label: token.label,
        pin: token.pin,
        ref,
        data,
        mechanism,
      };
      const worker = new Worker(LOOP, { eval: true, workerData });
      await answer(worker);
      workers.push(worker);
    }
    return new RawThreads(workers);
  }

  /** Signatures per second of all threads together over `seconds`. */
  async rate(seconds: number): Promise<number> {
    const counts = await Promise.all(
      this.workers.map((worker) => {
        const done = answer<number>(worker);
        worker.postMessage(seconds * 1000);
        return done;
      }),
    );
    return counts.reduce((a, b) => a + b, 0) / seconds;
  }

  async close(): Promise<void> {
    await Promise.all(
      this.workers.map(async (worker) => {
        const exited = new Promise((resolve) => worker.once("exit", resolve));
        worker.postMessage("close");
        await exited;
      }),
    );
  }
}
