// key.destroy: the key is destroyed on every HSM token after a waiting period (7 to 30 days, 7 by default, as
// AWS KMS does), and the destruction can be cancelled until it runs. Executing the approved operation only
// schedules it: the key stops signing at once (deactivated; a compromised key stays compromised; a key in
// pre-activation, which NIST SP 800-57 lets be destroyed, is deactivated too, so it cannot be activated), and a
// one-off scheduler job destroys it when the waiting period ends (server/operations/key-destruction.ts), so the
// irreversible step happens after a delay in which a mistake can still be caught, without anyone pressing a
// button. Cancelling keeps a key, so it is immediate (one fresh tap, like a suspension); it never makes a key
// active again: key.resume's quorum does (key.activate's, for a key that was in pre-activation).
import { z } from "zod";
import { keyTagSchema } from "@/server/policy/schema";
import { StepRefusedError } from "../executor/step-refused";
import type { OperationKind } from "./types";

export const MIN_WAITING_DAYS = 7;
export const MAX_WAITING_DAYS = 30;
export const DEFAULT_WAITING_DAYS = 7;

/** Kept in step with executor/keys.ts DESTROYABLE_STATES (server-only there; this file is browser-safe). */
const DESTROYABLE = ["pre-activation", "active", "suspended", "deactivated", "compromised"] as const;

const waitingDaysSchema = z
  .number()
  .int("whole days")
  .min(MIN_WAITING_DAYS, `at least ${MIN_WAITING_DAYS} days`)
  .max(MAX_WAITING_DAYS, `at most ${MAX_WAITING_DAYS} days`);

export const keyDestroyInputSchema = z
  .object({ keyId: z.string().uuid(), waitingDays: waitingDaysSchema.default(DEFAULT_WAITING_DAYS) })
  .strict();
export type KeyDestroyInput = z.input<typeof keyDestroyInputSchema>;

export const keyDestroyPayloadSchema = z
  .object({
    keyId: z.string().uuid(),
    label: z.string().min(1).max(200),
    tags: z.array(keyTagSchema).max(32),
    waitingDays: waitingDaysSchema,
  })
  .strict();
export type KeyDestroyPayload = z.infer<typeof keyDestroyPayloadSchema>;

export const keyDestroy: OperationKind<KeyDestroyPayload, z.output<typeof keyDestroyInputSchema>> = {
  kind: "key.destroy",
  proposers: ["operator", "admin"],
  payload: keyDestroyPayloadSchema,
  propose: {
    input: keyDestroyInputSchema,
    async prepare(input, read) {
      const key = await read.key(input.keyId, DESTROYABLE);
      return { keyId: key.id, label: key.label, tags: [...key.tags], waitingDays: input.waitingDays };
    },
  },
  describe(p) {
    return {
      title: `Destroy the key “${p.label}” after ${p.waitingDays} days`,
      lines: [
        { label: "Key", value: `${p.label} (${p.keyId})` },
        { label: "Tags", value: p.tags.length > 0 ? p.tags.join(", ") : "none" },
        { label: "Waiting period", value: `${p.waitingDays} days from execution` },
        {
          label: "Effect",
          value:
            "once approved the key stops signing at once; when the waiting period ends it is destroyed on every HSM token, for good. Until then an admin or approver can cancel the destruction (the key then stays suspended, or in pre-activation if it was never activated).",
        },
      ],
    };
  },
  facts(p) {
    return { keyTags: [...p.tags] };
  },
  // No HSM step here: the record schedules the destruction (key deactivated, destroy_after, the job) in the
  // transaction that marks the operation executed, so a repeat either finds nothing written or is not needed.
  // A key destroyed, gone, or already scheduled for destruction fails the operation (destroying twice).
  async execute(ctx, op) {
    const key = await ctx.keys.get(op.payload.keyId);
    if (key === null) throw new StepRefusedError(`the key ${op.payload.keyId} does not exist`);
    if (!DESTROYABLE.some((s) => s === key.state))
      throw new StepRefusedError(`the key is ${key.state}: it cannot be destroyed`);
    if (key.destroyAfter !== null)
      throw new StepRefusedError(
        `the key's destruction is already scheduled for ${key.destroyAfter.toISOString()}`,
      );
    return {
      // The instant itself (execution + waiting period) is on the key (destroy_after) and in the trail.
      result: { keyId: op.payload.keyId, waitingDays: op.payload.waitingDays },
      record: async (tx, row, at) => {
        await ctx.keys.scheduleDestruction(
          tx,
          { keyId: op.payload.keyId, operationId: row.id, waitingDays: op.payload.waitingDays },
          at,
        );
      },
    };
  },
};
