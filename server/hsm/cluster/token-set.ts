// HsmTokenSet: several PKCS#11 tokens acting as one. Keys are made on the primary and cloned, wrapped under
// the shared backup KEK, into every replica; signing falls over to the next token holding a clone when a
// token fails; each token's health is tracked for the status page. It must never lose a request silently:
// every sign returns a signature or rejects with an error naming each token and what it answered.
import "server-only";
import { randomBytes } from "node:crypto";
import { type Clock, systemClock } from "../../clock";
import { BACKUP_KEK_LABEL } from "../ceremonies/backup-kek";
import type { Curve } from "../keys/curves";
import { verifySignature } from "../keys/signature";
import { HsmError, hsmError, toHsmError } from "../pkcs11/errors";
import type { GenerateKeyPairOptions, KeyInfo } from "../keys/keys";
import type { HsmConfig } from "../pkcs11/pkcs11";
import type { TokenCheck } from "../status/token-check";
import type { KeyOnToken } from "../status/key-on-token";
import type { TokenKeyFlags } from "../status/key-flags";
import { allowsWrappedOnly, type UnwrapGuard } from "../keys/unwrap-guard-result";
import {
  classify,
  DEFAULT_HEALTH_POLICY,
  type HealthPolicy,
  lastResort,
  type TokenHealth,
} from "./token-health";
import { type ExecutorFactory, TokenMember, type TokenRole } from "./token-member";
import {
  attemptOf,
  destroyIncomplete,
  primaryUnavailable,
  setAsideAttempt,
  signFailure,
  type TokenAttempt,
} from "./token-set-error";

export type { ExecutorFactory, TokenRole };

export type TokenSetOptions = Partial<HealthPolicy> & {
  clock?: Clock;
  /** Deadline of one signature on one token before the next token is asked. Default 5000 ms. */
  signTimeoutMs?: number;
};

/** One token as the status page shows it. */
export type TokenStatus = TokenHealth & { label: string; role: TokenRole; library: string };

export type Replication = {
  /** Replicas that now hold a clone (made now, or already there). */
  replicated: string[];
  /** Replicas without one, and why. */
  notReplicated: { token: string; reason: HsmError["reason"]; message: string }[];
};

export type CreatedKey = KeyInfo &
  Replication & {
    /** The primary, which made it. */
    token: string;
    /** False when the caller's reference already named the key on the primary (a repeated create). */
    created: boolean;
  };

export type Signed = { signature: Buffer /** The token that signed. */; token: string };

/** A key wrapped for a backup file, with what names where and under what it was wrapped. */
export type WrappedExport = {
  ref: string;
  curve: Curve;
  label: string;
  publicKey: Buffer;
  /** The private key wrapped under the backup KEK: a secret on SoftHSM (README.md: its KEK is readable). */
  blob: Buffer;
  mechanism: "CKM_AES_KEY_WRAP_PAD";
  /** The token that wrapped it. */
  token: { label: string; serial: string };
  /** The KEK it is wrapped under: its label and CKA_ID (hex, the same on every token sharing it). */
  kek: { label: string; id: string };
};

/** What a restore asks: the key as recorded (reference, curve, label, public key), its blob, and the token. */
export type RestoreRequest = {
  ref: string;
  curve: Curve;
  label: string;
  publicKey: Uint8Array;
  blob: Uint8Array;
  token: string;
};

/**
 * A restore's proof. `token`: the key was missing there and is now back as token objects; the challenge is
 * what the restored object signed, verified against the recorded public key. `session`: the token already
 * held it, so the drill unwrapped a session object in the token's thread, had it sign a fresh random
 * challenge verified there against the recorded public key, and destroyed it.
 */
export type RestoredKey =
  | { token: string; mode: "token"; challenge: Buffer; signature: Buffer }
  | { token: string; mode: "session" };

export class HsmTokenSet {
  private readonly members: readonly TokenMember[];
  private readonly clock: Clock;
  private readonly signTimeoutMs: number;

  /** `tokens[0]` is the primary; labels must be unique. Executors are made on first use, not here. */
  constructor(tokens: readonly HsmConfig[], makeExecutor: ExecutorFactory, options: TokenSetOptions = {}) {
    if (tokens.length === 0) throw new Error("A token set needs at least one token");
    if (new Set(tokens.map((t) => t.tokenLabel)).size !== tokens.length) {
      throw new Error("Token labels in a token set must be unique");
    }
    this.clock = options.clock ?? systemClock;
    this.signTimeoutMs = options.signTimeoutMs ?? 5_000;
    const policy: HealthPolicy = {
      failAfter: options.failAfter ?? DEFAULT_HEALTH_POLICY.failAfter,
      backoffMs: options.backoffMs ?? DEFAULT_HEALTH_POLICY.backoffMs,
      maxBackoffMs: options.maxBackoffMs ?? DEFAULT_HEALTH_POLICY.maxBackoffMs,
    };
    const deps = { makeExecutor, clock: this.clock, policy };
    this.members = tokens.map((config, i) => new TokenMember(config, i === 0 ? "primary" : "replica", deps));
  }

  private get primary(): TokenMember {
    const [primary] = this.members;
    if (primary === undefined) throw new Error("unreachable: the constructor refuses an empty set");
    return primary;
  }

  private get replicas(): readonly TokenMember[] {
    return this.members.slice(1);
  }

  /** Every token's state, primary first. No I/O: it reports what the calls so far have shown. */
  health(): TokenStatus[] {
    return this.members.map((m) => ({
      ...m.health,
      label: m.label,
      role: m.role,
      library: m.config.library,
    }));
  }

  /** Probes every failed token whose back-off has run out; resolves when those probes are over. */
  async probeDue(): Promise<void> {
    await Promise.all(this.members.map((m) => m.probe()));
  }

  /**
   * Checks one token of the set (description, mechanisms, objects, KEK) through its executor, like any
   * call: a fault found is recorded in the token's health. For the status page.
   */
  check(tokenLabel: string): Promise<TokenCheck> {
    const member = this.members.find((m) => m.label === tokenLabel);
    if (member === undefined) {
      throw new HsmError("invalid-request", `No token '${tokenLabel}' in this token set.`, {
        operation: "check",
      });
    }
    return member.call({ op: "check" });
  }

  /**
   * What one token holds under a key's reference (status/key-on-token.ts: the token's serial, the key's
   * label, curve, export rule and public key), or null when it answers that it holds none; for the key page.
   * Asked through the token's executor like any call (a fault is recorded in its health), within `timeoutMs`
   * (default: the per-token signing deadline). A token set aside is not asked (its PIN is not tried again):
   * that is a `busy` error, nothing reached the HSM.
   */
  async inspectKey(
    tokenLabel: string,
    ref: string,
    options: { timeoutMs?: number } = {},
  ): Promise<KeyOnToken | null> {
    const member = this.memberNamed(tokenLabel, "inspectKey");
    if (member.health.state === "failed") {
      const message = `HSM token '${member.label}' is set aside after a failure; it was not asked.`;
      throw new HsmError("busy", message, { operation: "inspectKey" });
    }
    try {
      return await member.call({ op: "inspect", ref }, options.timeoutMs ?? this.signTimeoutMs);
    } catch (e) {
      if (e instanceof HsmError && e.reason === "key-missing") return null;
      throw e;
    }
  }

  /**
   * The exposure flags of many keys' private halves as one token attests them (status/key-flags.ts), for the
   * period report; each key's answer (holds with its flags, missing, unresolved, unreadable) is a value. Asked
   * through the token's executor like any call (a fault is recorded in its health); a token set aside is not
   * asked (`busy`, nothing reached the HSM).
   */
  async keyFlags(
    tokenLabel: string,
    refs: string[],
    options: { search?: boolean; timeoutMs?: number } = {},
  ): Promise<TokenKeyFlags> {
    const member = this.memberNamed(tokenLabel, "keyFlags");
    if (member.health.state === "failed") {
      const message = `HSM token '${member.label}' is set aside after a failure; it was not asked.`;
      throw new HsmError("busy", message, { operation: "keyFlags" });
    }
    const request = { op: "attest" as const, refs, search: options.search === true };
    return member.call(request, options.timeoutMs ?? this.signTimeoutMs);
  }

  /**
   * Runs the unwrap self-check (keys/unwrap-guard.ts) on one token through its executor: at start-up and
   * for the status page. Its pool thread keeps the result and, if the token fails, refuses wrapped-only keys.
   */
  async unwrapGuard(tokenLabel: string): Promise<UnwrapGuard> {
    const member = this.members.find((m) => m.label === tokenLabel);
    if (member === undefined) {
      throw new HsmError("invalid-request", `No token '${tokenLabel}' in this token set.`, {
        operation: "unwrap-guard",
      });
    }
    const guard = await member.call({ op: "unwrap-guard" });
    this.guards.set(tokenLabel, guard);
    return guard;
  }

  /** The last unwrap self-check of each token checked through this set (see unwrapGuard). */
  private readonly guards = new Map<string, UnwrapGuard>();

  /**
   * Signs on the first token that can: tokens in use in their configured order (the primary first), then,
   * only if all of them failed, tokens set aside for a transient fault. Re-signing after a failure is safe:
   * a signature has no effect of its own, so a maybe-done signature on a failed token is simply dropped
   * (ARCHITECTURE.md: idempotency lives in the intent). Not retried elsewhere: requests every token would
   * refuse alike (bad data, refused by the key's rules).
   */
  async sign(ref: string, data: Uint8Array): Promise<Signed> {
    void this.probeDue();
    const inUse = this.members.filter((m) => m.health.state !== "failed");
    const aside = this.members.filter((m) => m.health.state === "failed");
    const order = [...inUse, ...aside.filter((m) => lastResort(m.health))];
    const attempts: TokenAttempt[] = [];
    for (const member of order) {
      try {
        const signature = await member.call({ op: "sign", ref, data }, this.signTimeoutMs);
        return { signature, token: member.label };
      } catch (e) {
        const error = toHsmError(e, { operation: "sign", tokenLabel: member.label });
        if (classify(error) === "request") throw error;
        attempts.push(attemptOf(member, error));
      }
    }
    const untried = this.members.filter((m) => !order.includes(m)).map(setAsideAttempt);
    throw signFailure(ref, [...attempts, ...untried]);
  }

  /** Creates under a caller's reference running now, so a second one with the same reference waits for it. */
  private readonly creating = new Map<string, Promise<unknown>>();

  /**
   * Makes a key on the primary and clones it into every replica (see `replicate`). Needs the primary: a
   * key made on a replica would be missing from the primary once it is back.
   * With `ref` (the caller's reference, e.g. operationKeyRef) it is idempotent: a key the primary already
   * holds under it is returned with `created: false`, and clones missing from replicas are made. Creates
   * with one reference run one after another here, so two pool threads never search and generate it at once.
   */
  createKey(options: GenerateKeyPairOptions): Promise<CreatedKey> {
    const { ref } = options;
    if (ref === undefined) return this.createOnce(options);
    const before = this.creating.get(ref) ?? Promise.resolve();
    const run = before.then(
      () => this.createOnce(options),
      () => this.createOnce(options),
    );
    this.creating.set(ref, run);
    const forget = () => {
      if (this.creating.get(ref) === run) this.creating.delete(ref);
    };
    run.then(forget, forget);
    return run;
  }

  /** Reads a key from the primary by reference: null when the primary answers that it has no such key. */
  async findKey(ref: string): Promise<KeyInfo | null> {
    try {
      return await this.primary.call({ op: "find", ref });
    } catch (e) {
      if (e instanceof HsmError && e.reason === "key-missing") return null;
      throw e;
    }
  }

  private async createOnce(options: GenerateKeyPairOptions): Promise<CreatedKey> {
    const primary = this.primary;
    if (primary.health.state === "failed") throw primaryUnavailable(setAsideAttempt(primary), "createKey");
    const { curve, exportable } = options;
    // The replicas share the primary's KEK: one that lets the user unwrap weaker exposes the primary's keys
    // too (wrap there, unwrap here). The primary's own check is enforced by its pool thread.
    const exposed = this.replicas.find((r) => {
      const guard = this.guards.get(r.label);
      return exportable === "wrapped-only" && guard !== undefined && !allowsWrappedOnly(guard);
    });
    if (exposed !== undefined) {
      throw new HsmError(
        "refused",
        `Keyward makes no wrapped-only (exportable) keys on this token set: replica '${exposed.label}' failed its unwrap self-check, and it shares the backup KEK. ${this.guards.get(exposed.label)?.message ?? ""}`,
        { operation: "createKey" },
      );
    }
    const request = { op: "generate" as const, ...options };
    const key = await primary.call(request).catch((e: unknown) => {
      // A request the primary refuses (a bad label, say) is the caller's to see as it is.
      if (!(e instanceof HsmError) || classify(e) === "request") throw e;
      throw primaryUnavailable(attemptOf(primary, e), "createKey");
    });
    const info: KeyInfo = { ref: key.ref, publicKey: key.publicKey, label: key.label, curve, exportable };
    return { ...info, token: primary.label, created: key.created, ...(await this.cloneIntoReplicas(info)) };
  }

  /**
   * Makes sure every replica holds a clone of a key the primary holds: for a replica that was down when
   * the key was made, or a new replica. Idempotent: a clone already in place is checked and kept.
   */
  async replicate(ref: string): Promise<Replication> {
    return this.cloneIntoReplicas(await this.primary.call({ op: "find", ref }));
  }

  /**
   * Wraps the key on the primary once and unwraps it into each replica, which checks that the clone signs
   * for the primary's public key. "never" keys cannot leave their token, and SoftHSM 2.6.1 cannot wrap
   * Ed25519 keys: such keys stay on the primary, so keys that need failover must be "wrapped-only" EC keys.
   */
  private async cloneIntoReplicas(key: KeyInfo): Promise<Replication> {
    const replicas = this.replicas;
    const none = (reason: HsmError["reason"], message: string): Replication => ({
      replicated: [],
      notReplicated: replicas.map((r) => ({ token: r.label, reason, message })),
    });
    if (replicas.length === 0) return { replicated: [], notReplicated: [] };
    if (key.exportable === "never") {
      return none(
        "key-not-wrappable",
        `Key ${key.ref} is "never" exportable: it stays on '${this.primary.label}', and signing with it cannot fail over. Make keys that need failover "wrapped-only".`,
      );
    }
    let blob: Buffer;
    try {
      blob = await this.primary.call({ op: "wrap", ref: key.ref });
    } catch (e) {
      if (!(e instanceof HsmError)) throw e;
      return none(e.reason, e.message); // Ed25519 on SoftHSM 2.6.1: mechanism-unsupported
    }
    const result: Replication = { replicated: [], notReplicated: [] };
    try {
      for (const replica of replicas) {
        if (replica.health.state === "failed") {
          const { reason, message } = setAsideAttempt(replica);
          result.notReplicated.push({ token: replica.label, reason, message });
          continue;
        }
        try {
          const clone = await replica.call({ op: "unwrap", blob, key: { ...key } });
          if (!Buffer.from(clone.publicKey).equals(Buffer.from(key.publicKey))) {
            throw new HsmError(
              "invalid-request",
              `The clone of key ${key.ref} on '${replica.label}' has another public key than the primary's.`,
            );
          }
          result.replicated.push(replica.label);
        } catch (e) {
          if (!(e instanceof HsmError)) throw e;
          result.notReplicated.push({ token: replica.label, reason: e.reason, message: e.message });
        }
      }
    } finally {
      // Wrapped blobs are secrets too on SoftHSM, which does not enforce unwrap templates (README.md).
      blob.fill(0);
    }
    return result;
  }

  /**
   * Destroys the key on every token that holds it. Resolves only when every token answered; otherwise it
   * destroys what it can and rejects naming the tokens that may still hold a copy, so the caller retries.
   * Tokens set aside for a refused PIN or a missing token are not asked (they cannot answer).
   */
  async destroyKey(ref: string): Promise<{ destroyed: string[]; absent: string[] }> {
    const destroyed: string[] = [];
    const absent: string[] = [];
    const failures: TokenAttempt[] = [];
    for (const member of this.members) {
      if (member.health.state === "failed" && !lastResort(member.health)) {
        failures.push(setAsideAttempt(member));
        continue;
      }
      try {
        (await member.call({ op: "destroy", ref }))
          ? destroyed.push(member.label)
          : absent.push(member.label);
      } catch (e) {
        if (!(e instanceof HsmError) || classify(e) === "request") throw e; // a bad reference: the same everywhere
        failures.push(attemptOf(member, e));
      }
    }
    if (failures.length > 0) throw destroyIncomplete(ref, destroyed, failures);
    return { destroyed, absent };
  }

  private memberNamed(tokenLabel: string, operation: string): TokenMember {
    const member = this.members.find((m) => m.label === tokenLabel);
    if (member === undefined) {
      const labels = this.members.map((m) => `'${m.label}'`).join(", ");
      throw new HsmError(
        "invalid-request",
        `No token '${tokenLabel}' in this token set (it has ${labels}).`,
        {
          operation,
        },
      );
    }
    return member;
  }

  /**
   * The key wrapped under the backup KEK on the primary, for a backup file, with the token's label and serial
   * and the KEK's label and id. Refuses a "never" key (key-not-wrappable) and, on SoftHSM 2.6.1, an Ed25519
   * key (mechanism-unsupported). Safe to repeat: AES key wrap is deterministic, so the same key under the same
   * KEK gives the same blob.
   */
  async exportWrapped(ref: string): Promise<WrappedExport> {
    const operation = "exportWrapped";
    const primary = this.primary;
    const key = await primary.call({ op: "find", ref });
    if (key.exportable === "never") {
      throw hsmError("key-not-wrappable", { operation, tokenLabel: primary.label, key: ref });
    }
    const check = await primary.call({ op: "check" });
    if (check.objects.kek === null) throw hsmError("kek-missing", { operation, tokenLabel: primary.label });
    const blob = await primary.call({ op: "wrap", ref });
    return {
      ref,
      curve: key.curve,
      label: key.label,
      publicKey: key.publicKey,
      blob,
      mechanism: "CKM_AES_KEY_WRAP_PAD",
      token: { label: check.token.label, serial: check.token.serial },
      kek: { label: BACKUP_KEK_LABEL, id: check.objects.kek.id },
    };
  }

  /**
   * Restores a backed-up key into one token of the set and proves it signs for the recorded public key.
   * A token that lacks the key (a replica that lost it) gets it back as token objects, which must then sign a
   * fresh random challenge that verifies; otherwise they are destroyed again and the restore fails. A token
   * that holds it gets a drill with a session object that leaves nothing behind (keys/key-backup.ts). Safe to
   * repeat: a repeat after a restore finds the key in place and drills it. A blob that does not unwrap here
   * or does not match the public key is refused (invalid-request) with nothing left on the token.
   */
  async restoreKey(request: RestoreRequest): Promise<RestoredKey> {
    const operation = "restoreKey";
    const member = this.memberNamed(request.token, operation);
    const key = {
      curve: request.curve,
      label: request.label,
      ref: request.ref,
      publicKey: request.publicKey,
    };
    const held = await member.call({ op: "find", ref: request.ref }).then(
      () => true,
      (e: unknown) => {
        if (e instanceof HsmError && e.reason === "key-missing") return false;
        throw e;
      },
    );
    if (held) {
      await member.call({ op: "unwrap", blob: request.blob, key: { ...key, drill: true } });
      return { token: member.label, mode: "session" };
    }
    await member.call({ op: "unwrap", blob: request.blob, key });
    const challenge = randomBytes(32);
    try {
      const signature = await member.call({ op: "sign", ref: request.ref, data: challenge });
      if (!verifySignature(request.curve, request.publicKey, challenge, signature)) {
        throw new HsmError(
          "invalid-request",
          `Key ${request.ref} restored on '${member.label}' does not sign for the recorded public key; it was removed again.`,
          { operation },
        );
      }
      return { token: member.label, mode: "token", challenge, signature };
    } catch (e) {
      // Nothing unproven stays on the token; a repeat imports it afresh.
      await member.call({ op: "destroy", ref: request.ref });
      throw e;
    }
  }

  /** Closes every token's executor. */
  async close(): Promise<void> {
    await Promise.all(this.members.map((m) => m.close()));
  }
}

export function createTokenSet(
  tokens: readonly HsmConfig[],
  makeExecutor: ExecutorFactory,
  options?: TokenSetOptions,
): HsmTokenSet {
  return new HsmTokenSet(tokens, makeExecutor, options);
}
