// A key's lifecycle beyond key.create: its scheduled destruction, predecessor and successor, and open
// lifecycle operations (all four roles), and cancelling a scheduled destruction by one fresh tap (admin,
// approver; roles re-checked in server/operations/key-destruction.ts). key.revoke, key.destroy and key.rotate
// themselves are operations, proposed through operations.propose.
import "server-only";
import { z } from "zod";
import { webauthnConfig } from "@/server/auth/config";
import { authenticationResponseSchema } from "@/server/auth/schemas";
import { beginCancelDestruction, cancelDestruction } from "@/server/operations/key-destruction";
import { keyLifecycleStatus } from "@/server/operations/key-lifecycle-status";
import { rotationScheduleOf } from "@/server/operations/rotation-due";
import { rotationSweepsOf } from "@/server/withdrawals/rotation-sweeps-of";
import { createTRPCRouter, withRole } from "../trpc";

const keyInput = z.object({ keyId: z.string().uuid() });

export const keyLifecycleRouter = createTRPCRouter({
  status: withRole("admin", "operator", "approver", "auditor")
    .input(keyInput)
    .query(({ ctx, input }) => keyLifecycleStatus(ctx.db, input.keyId)),

  /** When Keyward proposes the key's rotation by time (null: no period applies, or the key is not active). */
  rotation: withRole("admin", "operator", "approver", "auditor")
    .input(keyInput)
    .query(({ ctx, input }) => rotationScheduleOf(ctx.db, input.keyId, ctx.clock())),

  /** A rotated key's sweeps to its successor: the job, the withdrawals proposed, the skips (null: never rotated). */
  sweeps: withRole("admin", "operator", "approver", "auditor")
    .input(keyInput)
    .query(({ ctx, input }) => rotationSweepsOf(ctx.db, input.keyId)),

  // Cancelling keeps a key, so it is immediate like a suspension: one tap, no quorum.
  beginCancelDestruction: withRole("admin", "approver")
    .input(keyInput)
    .mutation(({ ctx, input }) =>
      beginCancelDestruction(ctx.db, webauthnConfig(), {
        actor: ctx.member,
        keyId: input.keyId,
        now: ctx.clock(),
      }),
    ),

  cancelDestruction: withRole("admin", "approver")
    .input(keyInput.extend({ response: authenticationResponseSchema }))
    .mutation(({ ctx, input }) =>
      cancelDestruction(ctx.db, webauthnConfig(), { actor: ctx.member, ...input, now: ctx.clock() }),
    ),
});
