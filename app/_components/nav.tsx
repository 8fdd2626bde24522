"use client";
// The header's sign-out button: ends the server-side session, then the cookie.
import { signOut } from "next-auth/react";

export function SignOutButton() {
  return (
    <button type="button" className="btn-secondary" onClick={() => signOut({ redirectTo: "/sign-in" })}>
      Sign out
    </button>
  );
}
