// The go-live ceremony (issue 13 item 6): Keyward leaves setup mode only when every active admin — at least two,
// each holding a live token — has approved the policy version in force with a fresh tap, and every rule of it
// is reachable with the members as they are. beginGoLiveTap issues a challenge that is
// SHA-256(JCS({ v: 1, purpose: "go-live", policy: digest, policyVersion, admins: adminSetDigest, admin, nonce })),
// single use, five minutes, stored with a subject naming the same; completeGoLiveTap, under the admin lock and
// the policy lock, consumes it, re-checks everything (mode, the admin, the policy and admin set the tap was bound
// to, every problem), verifies the admin's own token signed it (verifyTokenAssertion, the only verifier), stores
// the tap with its whole assertion and installation.go_live_tapped, and — when it is the last one missing —
// records going live (installation_live, never undone) with installation.live in that same transaction.
// A new policy version or a change to the admins changes the digest a tap must be bound to, so taps given so far
// stop counting without being touched. Every refusal burns the tap and records installation.go_live_refused.
import "server-only";
import { randomBytes } from "node:crypto";
import type { PublicKeyCredentialRequestOptionsJSON } from "@simplewebauthn/server";
import { generateAuthenticationOptions } from "@simplewebauthn/server";
import { and, eq, isNull } from "drizzle-orm";
import type { Db, DbOrTx } from "@/db/client";
import { goLiveTaps, installationLive, members, tokens } from "@/db/schema";
import { appendAudit } from "@/server/audit/append";
import { AssertionRefusedError, verifyTokenAssertion } from "@/server/auth/assertion";
import { challengeFromClientData, consumeChallenge, storeChallenge } from "@/server/auth/challenges";
import type { WebAuthnConfig } from "@/server/auth/config";
import { ASSERTION_MESSAGES, type AssertionRefusal } from "@/server/auth/refusals";
import type { AuthenticationResponse } from "@/server/auth/schemas";
import { type TapResponse, withTapRefusal } from "@/server/auth/tap-refusal";
import { AppError } from "@/server/errors";
import { takeAdminLock } from "@/server/members/admin-lock";
import type { Acting } from "@/server/members/guards";
import { lockPolicies } from "@/server/operations/policy-store";
import {
  GO_LIVE_PURPOSE,
  type GoLiveBinding,
  goLiveChallenge,
  goLiveChallengeBytes,
  goLiveSubject,
  parseGoLiveSubject,
} from "./go-live-challenge";
import { type GoLiveStatus, goLiveStatus } from "./go-live-status";

/** The audit subject of every ceremony event: the installation as a whole. */
export const INSTALLATION_SUBJECT = "installation";

export type GoLiveRefusal =
  | AssertionRefusal
  | "challenge_invalid"
  | "wrong_binding"
  | "not_admin"
  | "already_live"
  | "not_ready"
  | "policy_changed"
  | "admins_changed"
  | "already_tapped";

const MESSAGES: Record<GoLiveRefusal, string> = {
  ...ASSERTION_MESSAGES,
  wrong_member: "That token belongs to someone else. Tap one of your own tokens.",
  challenge_invalid:
    "This go-live tap was already used or has expired. Press Tap to approve again and tap once.",
  wrong_binding: "This tap was made for someone else or for other content. Start again from the setup page.",
  not_admin: "Only an active admin can approve going live.",
  already_live: "Keyward is already live.",
  not_ready: "Keyward cannot go live yet.",
  policy_changed:
    "The policy changed since this tap was asked for: read the version in force and tap again for it.",
  admins_changed:
    "The set of admins changed since this tap was asked for: every admin must tap again for the admins as they are now.",
  already_tapped: "You have already approved going live for this policy version and these admins.",
};

const CODES: Partial<Record<GoLiveRefusal, AppError["code"]>> = {
  challenge_invalid: "EXPIRED",
  verification_failed: "UNAUTHENTICATED",
  user_verification_missing: "UNAUTHENTICATED",
  token_revoked: "UNAUTHENTICATED",
  counter_regressed: "UNAUTHENTICATED",
  already_live: "CONFLICT",
  not_ready: "CONFLICT",
  policy_changed: "CONFLICT",
  admins_changed: "CONFLICT",
  already_tapped: "CONFLICT",
};

export class GoLiveRefusedError extends AppError {
  constructor(
    readonly reason: GoLiveRefusal,
    readonly evidence: AssertionRefusedError["evidence"] = null,
    /** For not_ready: every reason, in words. */
    readonly problems: readonly string[] = [],
  ) {
    super(
      CODES[reason] ?? "FORBIDDEN",
      problems.length > 0 ? `${MESSAGES[reason]} ${problems.join(" ")}` : MESSAGES[reason],
    );
  }
}

/** Re-reads the actor: an active admin, else not_admin (NOT_FOUND when the member does not exist). */
async function currentAdmin(db: DbOrTx, actor: Acting): Promise<void> {
  const [row] = await db
    .select({ status: members.status, roles: members.roles })
    .from(members)
    .where(eq(members.id, actor.id));
  // A session naming nobody (the member row gone) gets what any missing subject gets.
  if (!row) throw new AppError("NOT_FOUND", "No such member.");
  if (row.status !== "active" || !row.roles.includes("admin")) throw new GoLiveRefusedError("not_admin");
}

/** The refusals of `status` for this admin before any tap (and again under the locks). */
function refusalOf(status: GoLiveStatus, adminId: string): GoLiveRefusedError | null {
  if (status.mode.mode === "live") return new GoLiveRefusedError("already_live");
  if (!status.admins.some((a) => a.id === adminId)) return new GoLiveRefusedError("not_admin");
  if (status.problems.length > 0) return new GoLiveRefusedError("not_ready", null, status.problems);
  return null;
}

function withGoLiveRefusal<T>(
  db: Db,
  meta: { actor: Acting; response: TapResponse | null; now: Date },
  run: () => Promise<T>,
): Promise<T> {
  return withTapRefusal(
    db,
    {
      of: GoLiveRefusedError,
      response: meta.response,
      now: meta.now,
      record: (e, credentialId) => ({
        action: "installation.go_live_refused",
        actor: `member:${meta.actor.id}`,
        subject: INSTALLATION_SUBJECT,
        at: meta.now,
        data: { memberId: meta.actor.id, reason: e.reason, credentialId },
      }),
    },
    run,
  );
}

/**
 * The tap's options for the signed-in admin, bound to the policy version in force and the admins as they are:
 * refused at once (with every reason) when Keyward could not go live now, or this admin already tapped for it.
 */
export async function beginGoLiveTap(
  db: Db,
  config: WebAuthnConfig,
  input: { actor: Acting; now: Date },
): Promise<{ options: PublicKeyCredentialRequestOptionsJSON; policyVersion: number; policyDigest: string }> {
  return withGoLiveRefusal(db, { ...input, response: null }, async () => {
    await currentAdmin(db, input.actor);
    const status = await goLiveStatus(db);
    const refusal = refusalOf(status, input.actor.id);
    if (refusal) throw refusal;
    if (!status.policy) throw new GoLiveRefusedError("not_ready");
    if (status.admins.find((a) => a.id === input.actor.id)?.tapped) {
      throw new GoLiveRefusedError("already_tapped");
    }
    const live = await db
      .select({ id: tokens.id })
      .from(tokens)
      .where(and(eq(tokens.memberId, input.actor.id), isNull(tokens.revokedAt)));
    if (live.length === 0) throw new GoLiveRefusedError("token_revoked");
    const binding: GoLiveBinding = {
      adminId: input.actor.id,
      policyVersion: status.policy.version,
      policyDigest: status.policy.digest,
      adminSetDigest: status.adminSetDigest,
      nonce: randomBytes(32).toString("base64url"),
    };
    const options = await generateAuthenticationOptions({
      rpID: config.rpId,
      challenge: goLiveChallengeBytes(binding),
      userVerification: "required",
      allowCredentials: live.map((t) => ({ id: t.id })),
      timeout: config.challengeTtlMs,
    });
    if (options.challenge !== goLiveChallenge(binding)) {
      throw new AppError("INTERNAL", "go-live challenge encoding");
    }
    await storeChallenge(db, {
      purpose: GO_LIVE_PURPOSE,
      challenge: options.challenge,
      subject: goLiveSubject(binding),
      expiresAt: new Date(input.now.getTime() + config.challengeTtlMs),
    });
    return { options, policyVersion: binding.policyVersion, policyDigest: binding.policyDigest };
  });
}

export type GoLiveTapOutcome = {
  tapId: string;
  /** Admins who have tapped for this policy and admin set, this tap included, and how many must. */
  tapped: number;
  of: number;
  live: boolean;
};

/** Completes an admin's tap (see the file comment); the last one takes Keyward live in the same transaction. */
export async function completeGoLiveTap(
  db: Db,
  config: WebAuthnConfig,
  input: { actor: Acting; response: AuthenticationResponse; now: Date },
): Promise<GoLiveTapOutcome> {
  return withGoLiveRefusal(db, input, () =>
    db.transaction(async (tx) => {
      // Lock order: admin lock, then policy lock, before any row lock (the challenge's included). Every change to
      // the admins and every policy version waits for this tap, or is seen by it.
      await takeAdminLock(tx);
      await lockPolicies(tx);
      const challenge = challengeFromClientData(input.response.response.clientDataJSON);
      let subject: string | null;
      try {
        ({ subject } = await consumeChallenge(tx, GO_LIVE_PURPOSE, challenge, input.now));
      } catch {
        throw new GoLiveRefusedError("challenge_invalid");
      }
      const bound = parseGoLiveSubject(subject);
      if (!bound || bound.adminId !== input.actor.id || goLiveChallenge(bound) !== challenge) {
        throw new GoLiveRefusedError("wrong_binding");
      }
      await currentAdmin(tx, input.actor);
      const status = await goLiveStatus(tx);
      if (status.mode.mode === "live") throw new GoLiveRefusedError("already_live");
      if (status.policy?.digest !== bound.policyDigest || status.policy.version !== bound.policyVersion) {
        throw new GoLiveRefusedError("policy_changed");
      }
      if (status.adminSetDigest !== bound.adminSetDigest) throw new GoLiveRefusedError("admins_changed");
      const refusal = refusalOf(status, input.actor.id);
      if (refusal) throw refusal;
      if (status.admins.find((a) => a.id === input.actor.id)?.tapped) {
        throw new GoLiveRefusedError("already_tapped");
      }

      let tokenId: string;
      try {
        ({ tokenId } = await verifyTokenAssertion(tx, {
          response: input.response,
          expectedChallenge: challenge,
          expectedMemberId: input.actor.id,
          now: input.now,
          config,
        }));
      } catch (e) {
        if (e instanceof AssertionRefusedError) throw new GoLiveRefusedError(e.reason, e.evidence);
        throw e;
      }
      const [tap] = await tx
        .insert(goLiveTaps)
        .values({
          adminId: input.actor.id,
          tokenId,
          policyVersion: bound.policyVersion,
          policyDigest: bound.policyDigest,
          adminSetDigest: bound.adminSetDigest,
          nonce: bound.nonce,
          assertion: input.response,
          tappedAt: input.now,
        })
        .onConflictDoNothing()
        .returning({ id: goLiveTaps.id });
      if (!tap) throw new GoLiveRefusedError("already_tapped");
      const actor = `member:${input.actor.id}` as const;
      await appendAudit(tx, {
        action: "installation.go_live_tapped",
        actor,
        subject: INSTALLATION_SUBJECT,
        at: input.now,
        data: {
          memberId: input.actor.id,
          tapId: tap.id,
          policyVersion: bound.policyVersion,
          policyDigest: bound.policyDigest,
          adminSetDigest: bound.adminSetDigest,
          credentialId: tokenId,
        },
      });

      const tappedIds = new Set([...status.admins.filter((a) => a.tapped).map((a) => a.id), input.actor.id]);
      const of = status.admins.length;
      const everyone = status.admins.every((a) => tappedIds.has(a.id));
      if (!everyone) return { tapId: tap.id, tapped: tappedIds.size, of, live: false };

      const admins = status.admins.map((a) => a.id).sort();
      await tx.insert(installationLive).values({
        since: input.now,
        policyVersion: bound.policyVersion,
        policyDigest: bound.policyDigest,
        adminSetDigest: bound.adminSetDigest,
        admins,
        completedBy: input.actor.id,
      });
      await appendAudit(tx, {
        action: "installation.live",
        actor,
        subject: INSTALLATION_SUBJECT,
        at: input.now,
        data: {
          policyVersion: bound.policyVersion,
          policyDigest: bound.policyDigest,
          adminSetDigest: bound.adminSetDigest,
          admins,
          completedBy: input.actor.id,
        },
      });
      return { tapId: tap.id, tapped: tappedIds.size, of, live: true };
    }),
  );
}
