// The header values themselves: the page policy's nonce and framing rule, WebAuthn for the console only,
// HSTS on https only.
import { describe, expect, it } from "vitest";
import { parseEnv } from "@/server/env";
import { API_POLICY, newNonce, PERMISSIONS_POLICY, pagePolicy, staticSecurityHeaders } from "./headers";

describe("security headers", () => {
  it("page policy: scripts by nonce and strict-dynamic only, no framing, no plugins, no base rewriting", () => {
    const nonce = newNonce();
    const policy = pagePolicy(nonce, false);
    expect(policy).toContain(`script-src 'self' 'nonce-${nonce}' 'strict-dynamic'`);
    expect(policy).toContain("frame-ancestors 'none'");
    expect(policy).toContain("object-src 'none'");
    expect(policy).toContain("base-uri 'none'");
    expect(policy).not.toContain("unsafe-inline");
    expect(policy).not.toContain("unsafe-eval");
    expect(pagePolicy(nonce, true)).toContain("upgrade-insecure-requests");
    expect(newNonce()).not.toBe(nonce);
    expect(API_POLICY).toContain("frame-ancestors 'none'");
  });

  it("limits WebAuthn to the console's own pages and turns the other features off", () => {
    expect(PERMISSIONS_POLICY).toContain("publickey-credentials-get=(self)");
    expect(PERMISSIONS_POLICY).toContain("publickey-credentials-create=(self)");
    expect(PERMISSIONS_POLICY).toContain("camera=()");
    expect(PERMISSIONS_POLICY).not.toContain("*");
  });

  it("adds HSTS on an https origin only", () => {
    expect(staticSecurityHeaders("https://keyward.example")["Strict-Transport-Security"]).toBe(
      "max-age=63072000; includeSubDomains",
    );
    const plain = staticSecurityHeaders("http://localhost:3000");
    expect(plain["Strict-Transport-Security"]).toBeUndefined();
    expect(plain).toMatchObject({
      "X-Frame-Options": "DENY",
      "X-Content-Type-Options": "nosniff",
      "Referrer-Policy": "no-referrer",
    });
  });
});

describe("edge configuration", () => {
  const base = {
    AUTH_SECRET: "x".repeat(40),
    KEYWARD_HSM_PIN: "1234",
    KEYWARD_DATA_DIR: "/nonexistent-keyward",
  };

  it("refuses AUTH_URL and NEXTAUTH_URL, which next-auth would read over KEYWARD_ORIGIN", () => {
    expect(() => parseEnv({ ...base, AUTH_URL: "https://evil.example" })).toThrow(
      /AUTH_URL is not used by Keyward/,
    );
    expect(() => parseEnv({ ...base, NEXTAUTH_URL: "https://evil.example" })).toThrow(/NEXTAUTH_URL/);
  });

  it("trusts no proxy and keeps rate limits in memory by default, in PostgreSQL when a database is shared", () => {
    expect(parseEnv(base)).toMatchObject({
      trustProxyHops: 0,
      rateLimit: { perAddress: 30, total: 300, store: "memory" },
    });
    expect(parseEnv({ ...base, DATABASE_URL: "postgres://db/keyward" }).rateLimit.store).toBe("postgres");
    expect(parseEnv({ ...base, KEYWARD_TRUST_PROXY: "1" }).trustProxyHops).toBe(1);
    expect(() => parseEnv({ ...base, KEYWARD_TRUST_PROXY: "-1" })).toThrow(/KEYWARD_TRUST_PROXY/);
  });
});
