// next-auth wiring: one Credentials provider whose authorize() verifies a WebAuthn assertion. The JWT holds
// only a server-side session id; whether that session is live is decided per request by `currentSession()`.
import "server-only";
import NextAuth, { CredentialsSignin } from "next-auth";
import Credentials from "next-auth/providers/credentials";
import { cache } from "react";
import { z } from "zod";
import { database } from "@/server/db";
import { env } from "@/server/env";
import { webauthnConfig } from "./config";
import { authenticationResponseSchema } from "./schemas";
import { resumeSession, type SessionMember, endSession } from "./sessions";
import { completeSignIn, SignInError } from "./sign-in";

declare module "next-auth" {
  interface Session {
    sid: string;
  }
}

/** Carries our refusal reason to the browser as `code` (never a secret, only a reason name). */
class TokenSignInError extends CredentialsSignin {
  constructor(code: string) {
    super();
    this.code = code;
  }
}

const isHttps = (origin: string) => new URL(origin).protocol === "https:";

const authorizeInput = z.object({ response: z.string().max(65_536) });

export function sessionPolicy() {
  const e = env();
  return { idleMs: e.sessionIdleMs, maxMs: e.sessionMaxMs };
}

/** Where Auth.js is mounted (app/api/auth/[...nextauth]); set here, never guessed from AUTH_URL. */
export const AUTH_BASE_PATH = "/api/auth";

/**
 * Cookies: on https every one is Secure and prefixed (Auth.js's defaults give `__Secure-` and a `__Host-` CSRF
 * cookie); the session cookie is `__Host-` too, so no subdomain can set or scope it.
 */
function cookieSettings(https: boolean) {
  return https
    ? {
        sessionToken: {
          name: "__Host-authjs.session-token",
          options: { httpOnly: true, sameSite: "lax" as const, path: "/", secure: true },
        },
      }
    : undefined;
}

export const { handlers, auth, signOut } = NextAuth(() => ({
  secret: env().authSecret,
  basePath: AUTH_BASE_PATH,
  // With trustHost, Auth.js builds its URLs from the request's Host and X-Forwarded-Host/-Proto; without it,
  // it refuses every request in production. What it sees is ours either way: server/edge/auth-handler.ts
  // rebuilds every request on KEYWARD_ORIGIN (URL, Host, forwarded headers) before Auth.js reads it, and
  // server/env.ts refuses AUTH_URL/NEXTAUTH_URL (which Auth.js would read from process.env itself).
  trustHost: true,
  useSecureCookies: isHttps(env().origin),
  cookies: cookieSettings(isHttps(env().origin)),
  session: { strategy: "jwt", maxAge: Math.floor(env().sessionMaxMs / 1000) },
  pages: { signIn: "/sign-in", error: "/sign-in" },
  logger: {
    // Sign-in refusals are expected and already audited; keep the console for real errors.
    error: (e: Error) => {
      if (!(e instanceof CredentialsSignin)) console.error("[auth]", e.name, e.message);
    },
  },
  providers: [
    Credentials({
      id: "webauthn",
      name: "Hardware token",
      credentials: { response: { type: "text" } },
      async authorize(raw) {
        const parsed = authorizeInput.safeParse(raw);
        if (!parsed.success) throw new TokenSignInError("bad_input");
        let json: unknown;
        try {
          json = JSON.parse(parsed.data.response);
        } catch {
          throw new TokenSignInError("bad_input");
        }
        const response = authenticationResponseSchema.safeParse(json);
        if (!response.success) throw new TokenSignInError("bad_input");
        const { db } = await database();
        try {
          const { sessionId } = await completeSignIn(db, webauthnConfig(), {
            response: response.data,
            now: new Date(),
            policy: sessionPolicy(),
          });
          // The "user id" next-auth keeps in its JWT is our server-side session id.
          return { id: sessionId };
        } catch (e) {
          if (e instanceof SignInError) throw new TokenSignInError(e.reason);
          throw e;
        }
      },
    }),
  ],
  callbacks: {
    jwt({ token, user }) {
      if (user?.id) token.sid = user.id;
      return token;
    },
    session({ session, token }) {
      return { ...session, sid: typeof token.sid === "string" ? token.sid : "" };
    },
  },
  events: {
    async signOut(message) {
      const sid =
        "token" in message && typeof message.token?.sid === "string" ? message.token.sid : undefined;
      if (!sid) return;
      const { db } = await database();
      await db.transaction((tx) =>
        endSession(tx, { sessionId: sid, reason: "signed-out", actor: "system", now: new Date() }),
      );
    },
  },
}));

/** The signed-in member for this request, or null. Checks the server-side session once per render. */
export const currentSession = cache(async (): Promise<SessionMember | null> => {
  const session = await auth();
  const sid = session?.sid;
  if (!sid || !z.string().uuid().safeParse(sid).success) return null;
  const { db } = await database();
  return resumeSession(db, { sessionId: sid, now: new Date(), policy: sessionPolicy() });
});
