// What a verification says (verify.ts makes it): the kinds of check, one check, the report. Types and one list
// only, so the /verify page can show a report without loading the verifier, which runs in its worker.

export const CHECK_KINDS = [
  "bundle",
  "checkpoint",
  "consistency",
  "trusted",
  "event",
  "chain",
  "inclusion",
  "period",
  "operation",
  "vote",
  "registration",
  "policy",
] as const;
export type CheckKind = (typeof CHECK_KINDS)[number];

/** One item checked: `item` names it ("event 17", "checkpoint 40", "consistency 40→80", …). */
export type Check = { kind: CheckKind; item: string; ok: boolean; reason: string };

export type VerifyReport = {
  ok: boolean;
  checks: Check[];
  failures: Check[];
  /** The audit key the bundle's checkpoints were checked under: compare it with the published one. */
  verifierKey: string | null;
  /** The newest checkpoint that verified: what the events were proved against. */
  head: { size: number; rootHash: string } | null;
  /**
   * Passed and failed checks by kind. Always set by verify.ts; with `onCheck`, `checks` holds only the
   * failures (the passes were handed to onCheck), so count from here.
   */
  counts?: Partial<Record<CheckKind, { passed: number; failed: number }>>;
};
