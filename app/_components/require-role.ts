import "server-only";
// Page-level gate: the procedures check roles again; this only decides what to render.
import { redirect } from "next/navigation";
import type { Role } from "@/db/schema";
import { currentSession } from "@/server/auth/next-auth";

export async function requirePageRole(...roles: Role[]) {
  const session = await currentSession();
  if (!session) redirect("/sign-in");
  const allowed = roles.length === 0 || roles.some((r) => session.member.roles.includes(r));
  return { session, allowed };
}
