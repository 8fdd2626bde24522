// Playwright fixtures: every page gets a CDP virtual authenticator — a hardware token that Chromium
// emulates (ctap2, usb, resident keys, user verification) — configurable per test.
import { test as base, type CDPSession, type Page } from "@playwright/test";

export type TokenOptions = {
  protocol?: "ctap2" | "u2f";
  hasUserVerification?: boolean;
  isUserVerified?: boolean;
  hasResidentKey?: boolean;
};

export type VirtualToken = {
  cdp: CDPSession;
  authenticatorId: string;
  credentials: () => Promise<Array<{ credentialId: string; signCount: number; userHandle?: string }>>;
  remove: () => Promise<void>;
};

/** Attaches a virtual authenticator to the page's tab; taps are simulated automatically. */
export async function attachToken(page: Page, options: TokenOptions = {}): Promise<VirtualToken> {
  const cdp = await page.context().newCDPSession(page);
  await cdp.send("WebAuthn.enable", { enableUI: false });
  const protocol = options.protocol ?? "ctap2";
  const { authenticatorId } = await cdp.send("WebAuthn.addVirtualAuthenticator", {
    options: {
      protocol,
      ...(protocol === "ctap2" ? { ctap2Version: "ctap2_1" as const } : {}),
      transport: "usb",
      hasResidentKey: options.hasResidentKey ?? protocol === "ctap2",
      hasUserVerification: options.hasUserVerification ?? protocol === "ctap2",
      isUserVerified: options.isUserVerified ?? protocol === "ctap2",
      automaticPresenceSimulation: true,
    },
  });
  return {
    cdp,
    authenticatorId,
    credentials: async () => (await cdp.send("WebAuthn.getCredentials", { authenticatorId })).credentials,
    remove: async () => {
      await cdp.send("WebAuthn.removeVirtualAuthenticator", { authenticatorId });
    },
  };
}

export function setupCode(): string {
  const code = process.env.KEYWARD_E2E_SETUP_CODE;
  if (!code) throw new Error("global setup did not provide a setup code");
  return code;
}

export const test = base;
export { expect } from "@playwright/test";
