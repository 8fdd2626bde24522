// System health for admins and auditors: the database and every HSM token, and what each token attests of the
// audit key that signs checkpoints.
import "server-only";
import { AUDIT_KEY_REF } from "@/server/audit/checkpoint-key";
import { hsmStatus, keyAttestations } from "@/server/hsm";
import { flagProblems, keyOnTokenLine, keyRowsOnTokens } from "@/server/reports/key-flags";
import { databaseHealth } from "@/server/status/database-health";
import { createTRPCRouter, withRole } from "../trpc";

export const statusRouter = createTRPCRouter({
  health: withRole("admin", "auditor").query(async ({ ctx }) => {
    const [db, hsm] = await Promise.all([databaseHealth(ctx.db, ctx.engine), hsmStatus()]);
    return { checkedAt: ctx.clock(), database: db, hsm };
  }),

  /** CKA_LOCAL, CKA_ALWAYS_SENSITIVE, CKA_NEVER_EXTRACTABLE … of the audit key on each token, asked now. */
  auditKey: withRole("admin", "auditor").query(() => auditKeyFlags()),
});

/**
 * The HSM is asked at most once per AUDIT_KEY_TTL_MS, shared by every view (as key presence is): a replica never
 * holds the never-exportable audit key, so each question costs it a search of the whole token.
 */
const AUDIT_KEY_TTL_MS = 15_000;
let asked: { at: number; answer: ReturnType<typeof askAuditKey> } | undefined;

function auditKeyFlags(now = Date.now()): ReturnType<typeof askAuditKey> {
  if (asked === undefined || now - asked.at > AUDIT_KEY_TTL_MS) asked = { at: now, answer: askAuditKey() };
  return asked.answer;
}

async function askAuditKey() {
  const attested = await keyAttestations([AUDIT_KEY_REF]);
  const rows = keyRowsOnTokens(attested, AUDIT_KEY_REF);
  return {
    ref: AUDIT_KEY_REF,
    checkedAt: attested.checkedAt,
    error: attested.error,
    tokens: (rows ?? []).map((row) => ({
      line: keyOnTokenLine(row, "never"),
      problems: row.flags === null ? [] : flagProblems(row.flags, "never"),
    })),
    vendorAttestation: attested.tokens.map((t) => `${t.label}: ${t.vendorAttestation}`),
  };
}
