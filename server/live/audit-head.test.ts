// Which subscriptions a change wakes: by the kind of subject (`operation:…`, `key:…`), by one exact subject,
// and every one when the watcher could not list the subjects (a batch of thousands).
import { describe, expect, it } from "vitest";
import { type Change, touches } from "./audit-head";

const change = (...subjects: string[]): Change => ({ head: 7, subjects: new Set(subjects) });

describe("touches", () => {
  it("matches subjects by kind, not by a prefix of the kind's name", () => {
    expect(touches(change("operation:1", "session:2"), { kinds: ["operation"] })).toBe(true);
    expect(touches(change("key:1"), { kinds: ["operation", "member"] })).toBe(false);
    expect(touches(change("keyring:1", "key"), { kinds: ["key"] })).toBe(false);
  });

  it("matches one exact subject, and nothing else of its kind", () => {
    expect(touches(change("operation:a"), { subjects: ["operation:a"] })).toBe(true);
    expect(touches(change("operation:b"), { subjects: ["operation:a"] })).toBe(false);
  });

  it("wakes everyone when the subjects were not listed", () => {
    expect(touches({ head: 9, subjects: "all" }, { subjects: ["key:x"] })).toBe(true);
  });
});
