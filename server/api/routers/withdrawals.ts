// Withdrawals: operators and admins propose (the kind's own input schema, checked again and completed in the
// proposing transaction: server/withdrawals/prepare.ts); every member reads the list and an operation's
// withdrawal section; operators and admins see the form's options and fee estimates, preview a PSBT and download
// a signed transaction. Approving is a vote on the operation (operations.beginVote / vote), like any kind.
import "server-only";
import { z } from "zod";
import { CHAINS } from "@/server/custody/types";
import { proposeOperation } from "@/server/operations/propose";
import { withdrawalInputSchema } from "@/server/operations/kinds/withdrawal-schema";
import {
  feeEstimate,
  listWithdrawals,
  previewImported,
  previewPsbt,
  signedTransactionFile,
  DOWNLOADERS,
  withdrawalFormOptions,
  withdrawalSection,
} from "@/server/withdrawals/read";
import { withdrawalSpeedup } from "@/server/operations/kinds/withdrawal-speedup";
import { speedUpView } from "@/server/withdrawals/speedup-read";
import { createTRPCRouter, withRole } from "../trpc";

const everyone = withRole("admin", "operator", "approver", "auditor");
const proposers = withRole("operator", "admin");
const operationInput = z.object({ operationId: z.string().uuid() });

export const withdrawalsRouter = createTRPCRouter({
  propose: proposers.input(withdrawalInputSchema).mutation(async ({ ctx, input }) => {
    const op = await proposeOperation(ctx.db, {
      actor: ctx.member,
      kind: "withdrawal",
      payload: input,
      now: ctx.clock(),
    });
    return { operationId: op.id, state: op.state };
  }),

  list: everyone
    .input(z.object({ chain: z.enum(CHAINS).optional(), before: z.date().optional() }))
    .query(({ ctx, input }) => listWithdrawals(ctx.db, input)),

  /** The operation page's withdrawal section (null for other kinds). */
  section: everyone
    .input(operationInput)
    .query(({ ctx, input }) => withdrawalSection(ctx.db, input.operationId)),

  /** Speed-ups of an Ethereum withdrawal (or a speed-up's own transaction), and whether one can be proposed now. */
  speedUps: everyone.input(operationInput).query(({ ctx, input }) =>
    speedUpView(ctx.db, input.operationId, {
      mayPropose: withdrawalSpeedup.proposers.some((r) => ctx.member.roles.includes(r)),
    }),
  ),

  formOptions: proposers.query(({ ctx }) => withdrawalFormOptions(ctx.db)),

  estimate: proposers
    .input(z.object({ chain: z.enum(CHAINS), asset: z.string().trim().min(1).max(32) }))
    .query(({ input }) => feeEstimate(input)),

  previewPsbt: proposers
    .input(
      withdrawalInputSchema.pick({ keyId: true }).extend({ psbt: z.string().trim().min(1).max(400_000) }),
    )
    .mutation(({ ctx, input }) => previewPsbt(ctx.db, input)),

  /** An imported Ethereum or Solana transaction decoded for the form, before it is proposed. */
  previewImported: proposers
    .input(
      withdrawalInputSchema.pick({ keyId: true }).extend({
        chain: z.enum(["ethereum", "solana"]),
        unsignedTransaction: withdrawalInputSchema.shape.unsignedTransaction.unwrap(),
      }),
    )
    .mutation(({ ctx, input }) => previewImported(ctx.db, input)),

  /**
   * The signed transaction, for broadcasting elsewhere when Keyward has no node for the chain. A mutation because
   * it writes withdrawal.downloaded.
   */
  download: withRole(...DOWNLOADERS)
    .input(operationInput)
    .mutation(({ ctx, input }) =>
      signedTransactionFile(ctx.db, { actor: ctx.member, operationId: input.operationId, now: ctx.clock() }),
    ),
});
