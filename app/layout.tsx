import type { Metadata } from "next";
import Link from "next/link";
import type { ReactNode } from "react";
import { currentSession } from "@/server/auth/next-auth";
import { env } from "@/server/env";
import { LiveBadge } from "./_components/live-badge";
import { SignOutButton } from "./_components/nav";
import { RestrictionsBanner } from "./_components/restrictions-banner";
import { Providers } from "./_trpc/client";
import "./globals.css";

export const metadata: Metadata = {
  title: "Keyward",
  description: "HSM-backed custody console with hardware-token approvals",
  icons: { icon: { url: "/icon.svg", type: "image/svg+xml" } },
};

export const dynamic = "force-dynamic";

/** Whether an HSM token is on SoftHSM (isSoftHsmLibrary's rule): every page then says it is not for real funds. */
function onSoftHsm(): boolean {
  try {
    return env().hsm.tokens.some((t) => /softhsm/i.test(t.library.split("/").pop() ?? ""));
  } catch {
    return false;
  }
}

export default async function RootLayout({ children }: { children: ReactNode }) {
  const session = await currentSession();
  const roles = session?.member.roles ?? [];
  const canAdministerOrAudit = roles.includes("admin") || roles.includes("auditor");
  return (
    <html lang="en">
      <body>
        {onSoftHsm() && (
          <div
            role="note"
            className="bg-red-700 px-6 py-1 text-center text-xs font-semibold text-white"
            data-testid="softhsm-banner"
          >
            Development HSM (SoftHSM): not for real funds
          </div>
        )}
        <header className="border-b border-slate-200 bg-white">
          <nav aria-label="Main" className="mx-auto flex max-w-5xl items-center gap-6 px-6 py-3">
            <Link href="/" className="text-lg font-semibold tracking-tight">
              Keyward
            </Link>
            {session && (
              <>
                <Link href="/operations" className="text-sm text-slate-700 hover:text-slate-950">
                  Approvals
                </Link>
                <Link href="/keys" className="text-sm text-slate-700 hover:text-slate-950">
                  Keys
                </Link>
                <Link href="/withdrawals" className="text-sm text-slate-700 hover:text-slate-950">
                  Withdrawals
                </Link>
                <Link href="/allowlists" className="text-sm text-slate-700 hover:text-slate-950">
                  Allow-lists
                </Link>
                {canAdministerOrAudit && (
                  <Link href="/members" className="text-sm text-slate-700 hover:text-slate-950">
                    Members
                  </Link>
                )}
                <Link href="/policy" className="text-sm text-slate-700 hover:text-slate-950">
                  Policy
                </Link>
                <Link href="/tokens" className="text-sm text-slate-700 hover:text-slate-950">
                  My tokens
                </Link>
                <Link href="/settings/notifications" className="text-sm text-slate-700 hover:text-slate-950">
                  Notifications
                </Link>
                <Link href="/restrictions" className="text-sm text-slate-700 hover:text-slate-950">
                  Restrictions
                </Link>
                {roles.includes("admin") && (
                  <Link
                    href="/settings/service-accounts"
                    className="text-sm text-slate-700 hover:text-slate-950"
                  >
                    Service accounts
                  </Link>
                )}
                {canAdministerOrAudit && (
                  <Link href="/audit" className="text-sm text-slate-700 hover:text-slate-950">
                    Audit trail
                  </Link>
                )}
                {canAdministerOrAudit && (
                  <Link href="/reports" className="text-sm text-slate-700 hover:text-slate-950">
                    Reports
                  </Link>
                )}
                {canAdministerOrAudit && (
                  <Link href="/status" className="text-sm text-slate-700 hover:text-slate-950">
                    Status
                  </Link>
                )}
                <Link href="/verify" className="text-sm text-slate-700 hover:text-slate-950">
                  Verify a report
                </Link>
                <span className="ml-auto">
                  <LiveBadge />
                </span>
                <span className="text-sm text-slate-600" data-testid="signed-in-as">
                  {session.member.name} · {roles.join(", ")}
                </span>
                <SignOutButton />
              </>
            )}
            {!session && (
              // Public: a regulator checks an evidence bundle without an account (app/verify).
              <Link href="/verify" className="text-sm text-slate-700 hover:text-slate-950">
                Verify a report
              </Link>
            )}
          </nav>
        </header>
        <main className="mx-auto max-w-5xl px-6 py-8">
          <Providers>
            {session && <RestrictionsBanner />}
            {children}
          </Providers>
        </main>
      </body>
    </html>
  );
}
