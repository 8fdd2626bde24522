// signing.unfreeze: lifts the freeze of all signing. Freezing is immediate, one tap (server/operations/freeze.ts);
// lifting needs the quorum. The proposer names the freeze shown to them; the proposing transaction reads the
// freeze in force (none, or another one, is a CONFLICT) and stores who froze it, when and why in the payload, so
// approvers see which freeze they lift and the digest covers it. The executor claims this kind even while
// signing is frozen (executor/claim.ts): it is the one operation that can end the freeze.
import { z } from "zod";
import { AppError } from "@/server/errors";
import { StepRefusedError } from "../executor/step-refused";
import type { OperationKind } from "./types";

export const SIGNING_UNFREEZE_KIND = "signing.unfreeze";

/**
 * The kinds the executor still carries out while signing is frozen (executor/claim.ts): this one, which ends
 * the freeze, and key.revoke, which only takes signing away (a compromised key never signs again) — the
 * freeze exists to stop a thief and must not hold up marking the stolen key compromised; for the same reason
 * token.revoke, which only takes a person's token (a way to sign in and vote) away. Browser-safe, so the
 * operation page says which approved operations wait.
 */
export const RUNS_WHILE_FROZEN: readonly string[] = [SIGNING_UNFREEZE_KIND, "key.revoke", "token.revoke"];

export const signingUnfreezeInputSchema = z.object({ freezeId: z.string().uuid() }).strict();
export type SigningUnfreezeInput = z.infer<typeof signingUnfreezeInputSchema>;

export const signingUnfreezePayloadSchema = z
  .object({
    freezeId: z.string().uuid(),
    /** ISO 8601 UTC: the payload is digested as JSON. */
    frozenAt: z.string().datetime(),
    frozenBy: z.object({ id: z.string().uuid(), name: z.string().min(1).max(200) }).strict(),
    reason: z.string().max(500).nullable(),
  })
  .strict();
export type SigningUnfreezePayload = z.infer<typeof signingUnfreezePayloadSchema>;

function utc(iso: string): string {
  return `${iso.slice(0, 19).replace("T", " ")} UTC`;
}

export const signingUnfreeze: OperationKind<SigningUnfreezePayload, SigningUnfreezeInput> = {
  kind: SIGNING_UNFREEZE_KIND,
  proposers: ["admin", "operator"],
  payload: signingUnfreezePayloadSchema,
  propose: {
    input: signingUnfreezeInputSchema,
    async prepare(input, read) {
      const freeze = await read.signingFreeze();
      if (freeze === null)
        throw new AppError("CONFLICT", "Signing is not frozen: there is no freeze to lift.");
      if (freeze.id !== input.freezeId) {
        throw new AppError(
          "CONFLICT",
          "The freeze in force is not the one you named (it was lifted and signing was frozen again). Reload and look at the one in force.",
        );
      }
      return {
        freezeId: freeze.id,
        frozenAt: freeze.frozenAt.toISOString(),
        frozenBy: { id: freeze.frozenBy.id, name: freeze.frozenBy.name },
        reason: freeze.reason,
      };
    },
  },
  describe(p) {
    return {
      title: "Lift the freeze of all signing",
      lines: [
        { label: "Freeze", value: `frozen by ${p.frozenBy.name} on ${utc(p.frozenAt)}` },
        { label: "Their reason", value: p.reason ?? "none given" },
        {
          label: "Effect",
          value:
            "signing resumes: every approved operation held by the freeze is carried out, and keys that are active sign again",
        },
      ],
    };
  },
  facts() {
    return { keyTags: [] };
  },
  // Safe to repeat: lifting is a conditional update (lifted_at still null), and a freeze already lifted — by
  // another signing.unfreeze naming it — counts as done. A freeze row is never deleted, so one gone is a refusal.
  async execute(ctx, op) {
    const state = await ctx.freezes.stateOf(op.payload.freezeId);
    if (state === null) throw new StepRefusedError(`the freeze ${op.payload.freezeId} does not exist`);
    return {
      result: { freezeId: op.payload.freezeId },
      record: async (tx, row, at) => {
        await ctx.freezes.lift(tx, { freezeId: op.payload.freezeId, operationId: row.id }, at);
      },
    };
  },
};
