// The policy's optional rotation periods: validated (tag spelling, 1 to 3650 days, each tag once), the shortest
// period of a key's tags applies, the default document carries none (so its digest is what it was before
// rotation existed), and the periods read in words.
import { describe, expect, it } from "vitest";
import { describePolicy } from "./describe";
import { DEFAULT_POLICY, parsePolicyDocument, policyDigest, rotationDaysFor } from "./document";

const withRotation = (rotation: unknown) => ({ ...DEFAULT_POLICY, rotation });

describe("rotation periods", () => {
  it("are optional: the default has none and its digest is the one every installation was seeded with", () => {
    expect("rotation" in DEFAULT_POLICY).toBe(false);
    // Digest of DEFAULT_POLICY as seeded before the rotation field existed (policy_versions.digest of version 1).
    expect(policyDigest(DEFAULT_POLICY)).toBe(
      "aa84ed8a6f890e5dca90051baedc2462b2244575b6e0bb20358b5e4eee81b8d3",
    );
  });

  it("accept tags with whole days, and refuse bad ones naming the field", () => {
    expect(parsePolicyDocument(withRotation([{ tag: "hot", everyDays: 90 }])).rotation).toEqual([
      { tag: "hot", everyDays: 90 },
    ]);
    const refused = [
      [{ tag: "hot", everyDays: 0 }],
      [{ tag: "hot", everyDays: 3651 }],
      [{ tag: "hot", everyDays: 1.5 }],
      [{ tag: "Hot", everyDays: 90 }],
      [{ tag: "hot", everyDays: 90, extra: true }],
      [
        { tag: "hot", everyDays: 90 },
        { tag: "hot", everyDays: 30 },
      ],
    ];
    for (const rotation of refused) {
      const result = (() => {
        try {
          parsePolicyDocument(withRotation(rotation));
          return null;
        } catch (e) {
          return e instanceof Error && "issues" in e ? (e.issues as { path: (string | number)[] }[]) : [];
        }
      })();
      expect(result, JSON.stringify(rotation)).not.toBeNull();
      expect(result?.[0]?.path[0]).toBe("rotation");
    }
  });

  it("apply the shortest period among a key's tags, or none", () => {
    const doc = parsePolicyDocument(
      withRotation([
        { tag: "hot", everyDays: 90 },
        { tag: "btc", everyDays: 30 },
        { tag: "cold", everyDays: 365 },
      ]),
    );
    expect(rotationDaysFor(doc, ["hot", "cold"])).toBe(90);
    expect(rotationDaysFor(doc, ["cold", "btc", "hot"])).toBe(30);
    expect(rotationDaysFor(doc, ["warm"])).toBeNull();
    expect(rotationDaysFor(DEFAULT_POLICY, ["hot"])).toBeNull();
  });

  it("read in words on the policy page", () => {
    expect(describePolicy(DEFAULT_POLICY).rotation).toBeUndefined();
    const words = describePolicy(parsePolicyDocument(withRotation([{ tag: "hot", everyDays: 90 }])));
    expect(words.rotation?.[0]).toBe(
      "Keys tagged hot: Keyward proposes their rotation every 90 days (it still needs its approvals)",
    );
  });
});
