// KEYWARD_SMTP_URL and KEYWARD_MAIL_FROM: optional, validated once, and the password never appears in what is
// shown (the status page, the boot line) or in a refusal.
import { describe, expect, it } from "vitest";
import { parseEnv } from "@/server/env";
import { notifyStatus } from "./notifier";

const base = {
  AUTH_SECRET: "x".repeat(40),
  KEYWARD_HSM_PIN: "1234",
  KEYWARD_DATA_DIR: "/nonexistent-keyward",
};

describe("SMTP configuration", () => {
  it("is off without KEYWARD_SMTP_URL", () => {
    expect(parseEnv(base).smtp).toBeNull();
    expect(notifyStatus(null)).toEqual({
      email: { on: false, reason: "E-mail notifications are off: KEYWARD_SMTP_URL is not set." },
    });
  });

  it("shows the server without its password, with a default sender from the origin", () => {
    const env = parseEnv({
      ...base,
      KEYWARD_ORIGIN: "https://custody.example.com",
      KEYWARD_SMTP_URL: "smtp://mailer:hunter2-secret@mail.example.com:587",
    });
    expect(env.smtp?.url).toBe("smtp://mailer:hunter2-secret@mail.example.com:587");
    expect(env.smtp?.display).toBe("smtp://mailer@mail.example.com:587");
    expect(env.smtp?.from).toBe("Keyward <keyward@custody.example.com>");
    expect(JSON.stringify(notifyStatus(env.smtp))).not.toContain("hunter2");
    expect(
      parseEnv({ ...base, KEYWARD_SMTP_URL: "smtps://a:b@h:465", KEYWARD_MAIL_FROM: "Ops <ops@x.y>" }).smtp
        ?.from,
    ).toBe("Ops <ops@x.y>");
  });

  it("refuses another scheme without echoing the value", () => {
    let message = "";
    try {
      parseEnv({ ...base, KEYWARD_SMTP_URL: "https://user:hunter2-secret@mail.example.com" });
    } catch (e) {
      message = e instanceof Error ? e.message : String(e);
    }
    expect(message).toMatch(/KEYWARD_SMTP_URL/);
    expect(message).not.toContain("hunter2");
  });
});
