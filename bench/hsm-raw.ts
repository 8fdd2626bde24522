// The baseline for bench/hsm.ts: pkcs11js called directly on the main thread, one session, no error
// mapping, no low-S step, no threads. Benchmarks only: one of the two files outside server/hsm that the
// boundary test lets import pkcs11js (server/hsm/testing/boundary-rules.ts names them).
import "server-only";
import pkcs11js from "pkcs11js";
import {
  type Curve,
  MECHANISM,
  privateKeyTemplate,
  publicKeyTemplate,
  type TestToken,
} from "../server/hsm/testing/bench";

const CKR_CRYPTOKI_ALREADY_INITIALIZED = 0x191;
const CKR_USER_ALREADY_LOGGED_IN = 0x100;

function codeOf(e: unknown): unknown {
  return e instanceof Error ? Reflect.get(e, "code") : undefined;
}

export class RawHsm {
  private readonly module = new pkcs11js.PKCS11();
  private readonly session: Buffer;

  constructor(token: TestToken) {
    const m = this.module;
    m.load(token.config.library);
    // SoftHSM reads its configuration from the real environment, once, in the first C_Initialize.
    process.env.SOFTHSM2_CONF = token.conf;
    try {
      m.C_Initialize({ flags: pkcs11js.CKF_OS_LOCKING_OK });
    } catch (e) {
      if (codeOf(e) !== CKR_CRYPTOKI_ALREADY_INITIALIZED) throw e;
    }
    const slot = m.C_GetSlotList(true).find((s) => m.C_GetTokenInfo(s).label.trimEnd() === token.label);
    if (slot === undefined) throw new Error(`no token ${token.label}`);
    this.session = m.C_OpenSession(slot, pkcs11js.CKF_SERIAL_SESSION | pkcs11js.CKF_RW_SESSION);
    try {
      m.C_Login(this.session, pkcs11js.CKU_USER, token.pin);
    } catch (e) {
      if (codeOf(e) !== CKR_USER_ALREADY_LOGGED_IN) throw e;
    }
  }

  /** "SoftHSM 2.6" from C_GetInfo. */
  library(): string {
    const info = this.module.C_GetInfo();
    const v = info.libraryVersion;
    return `${info.libraryDescription.trim()} ${v.major}.${v.minor}`;
  }

  /** C_FindObjects for the private half of a key, as keys.ts does on a cache miss. */
  findPrivate(ref: string): Buffer {
    const m = this.module;
    m.C_FindObjectsInit(this.session, [
      { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_PRIVATE_KEY },
      { type: pkcs11js.CKA_ID, value: Buffer.from(ref, "hex") },
    ]);
    try {
      const [handle] = m.C_FindObjects(this.session, 2);
      if (handle === undefined) throw new Error(`no key ${ref}`);
      return handle;
    } finally {
      m.C_FindObjectsFinal(this.session);
    }
  }

  /** Signatures per second: a plain C_SignInit + C_Sign loop for `seconds`. */
  signRate(curve: Curve, ref: string, data: Buffer, seconds: number): number {
    const m = this.module;
    const key = this.findPrivate(ref);
    const mechanism = { mechanism: curve === "ed25519" ? MECHANISM.eddsa : MECHANISM.ecdsa };
    const out = Buffer.alloc(64);
    const end = performance.now() + seconds * 1000;
    const start = performance.now();
    let count = 0;
    while (performance.now() < end) {
      for (let i = 0; i < 20; i++) {
        m.C_SignInit(this.session, mechanism, key);
        m.C_Sign(this.session, data, out);
      }
      count += 20;
    }
    return count / ((performance.now() - start) / 1000);
  }

  /** Key pairs per second with the module's own templates. */
  generateRate(curve: Curve, count: number): number {
    const m = this.module;
    const mechanism = {
      mechanism: curve === "ed25519" ? MECHANISM.edwardsKeyPairGen : MECHANISM.ecKeyPairGen,
    };
    const start = performance.now();
    for (let i = 0; i < count; i++) {
      const ref = Buffer.from(crypto.getRandomValues(new Uint8Array(16))).toString("hex");
      m.C_GenerateKeyPair(
        this.session,
        mechanism,
        publicKeyTemplate(curve, ref, "bench-raw"),
        privateKeyTemplate(curve, ref, "bench-raw", "never"),
      );
    }
    return count / ((performance.now() - start) / 1000);
  }

  /** Closes the session and finalises the library: only once every pool of the process is closed. */
  close(): void {
    this.module.C_CloseSession(this.session);
    this.module.C_Finalize();
    this.module.close();
  }
}
