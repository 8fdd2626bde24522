// key.activate as a kind: its payload, what approvers read, the facts rules match on, the proposing step (only a
// key in pre-activation), and the execute step's refusals and repeat (a fake context: no database, no HSM).
// key.create's pre-activation option beside it: absent, the payload and its words are as they always were.
import { describe, expect, it } from "vitest";
import type { KeyState } from "@/db/schema/operations";
import { AppError } from "@/server/errors";
import { StepRefusedError } from "../executor/step-refused";
import type { ExecuteContext } from "../executor/types";
import { operationKind } from ".";
import { keyActivate, keyActivatePayloadSchema } from "./key-activate";
import { initialStateOf, keyCreate, keyCreatePayloadSchema } from "./key-create";
import type { ProposedKey, ProposeReader } from "./types";

const KEY_ID = "6f1c1b8e-0d3a-4c6b-9a51-2b7e3f4d5c61";
const payload = {
  keyId: KEY_ID,
  label: "Cold reserve 7",
  tags: ["cold", "treasury"],
  curve: "ed25519",
  publicKey: "ab".repeat(32),
};

function keyIn(state: KeyState): ProposedKey {
  return {
    id: KEY_ID,
    label: payload.label,
    tags: payload.tags,
    state,
    curve: payload.curve,
    exportable: "never",
    publicKey: payload.publicKey,
  };
}

/** A reader whose key() behaves as propose.ts's: CONFLICT naming the state for a key in none of `states`. */
function readerWith(state: KeyState): { read: ProposeReader; asked: (readonly KeyState[])[] } {
  const asked: (readonly KeyState[])[] = [];
  const read = {
    key: async (_id: string, states: readonly KeyState[]) => {
      asked.push(states);
      if (!states.includes(state)) throw new AppError("CONFLICT", `The key is ${state}.`);
      return keyIn(state);
    },
  } as Partial<ProposeReader>;
  // Only key() is used by this kind; the rest would throw if it were reached.
  return { read: read as ProposeReader, asked };
}

/** The execute context's keys part for a key in `state` (null: no such key); records activate() calls. */
function contextWith(state: KeyState | null) {
  const activated: { keyId: string; operationId: string }[] = [];
  const ctx = {
    keys: {
      stateOf: async () => state,
      activate: async (_tx: unknown, input: { keyId: string; operationId: string }) => {
        activated.push(input);
        return state === "active" ? ("already-active" as const) : ("activated" as const);
      },
    },
  } as unknown as ExecuteContext;
  return { ctx, activated };
}

describe("key.activate", () => {
  it("is registered, proposed by operators and admins", () => {
    const kind = operationKind("key.activate");
    expect(kind?.kind).toBe("key.activate");
    expect(kind?.proposers).toEqual(["operator", "admin"]);
  });

  it("takes only a key id from the proposer, and a strict payload", () => {
    const kind = operationKind("key.activate");
    expect(kind?.parseProposal({ keyId: KEY_ID })).toEqual({ keyId: KEY_ID });
    expect(() => kind?.parseProposal({ keyId: "not-a-uuid" })).toThrow();
    expect(() => kind?.parseProposal({ keyId: KEY_ID, tags: ["hot"] })).toThrow();
    expect(keyActivatePayloadSchema.parse(payload)).toEqual(payload);
    expect(keyActivatePayloadSchema.safeParse({ ...payload, extra: 1 }).success).toBe(false);
    expect(keyActivatePayloadSchema.safeParse({ ...payload, tags: ["Not A Tag"] }).success).toBe(false);
    expect(keyActivatePayloadSchema.safeParse({ ...payload, publicKey: "zz" }).success).toBe(false);
  });

  it("is shown to approvers in words: which key, its tags and public key, and what activating does", () => {
    const shown = keyActivate.describe(payload);
    expect(shown.title).toBe("Activate the key “Cold reserve 7”");
    expect(shown.lines).toEqual([
      { label: "Key", value: `Cold reserve 7 (${KEY_ID})` },
      { label: "Tags", value: "cold, treasury" },
      { label: "Curve", value: "ed25519" },
      { label: "Public key", value: "ab".repeat(32) },
      {
        label: "Effect",
        value:
          "the key leaves pre-activation and becomes active: from then on it can sign (withdrawals from its addresses, under the policy in force)",
      },
    ]);
    expect(keyActivate.describe({ ...payload, tags: [] }).lines[1]).toEqual({ label: "Tags", value: "none" });
  });

  it("gives rules the key's tags to match on", () => {
    expect(operationKind("key.activate")?.facts(payload)).toEqual({ keyTags: ["cold", "treasury"] });
  });

  it("is proposed only for a key in pre-activation, its label, tags, curve and public key read into the payload", async () => {
    const pre = readerWith("pre-activation");
    expect(await operationKind("key.activate")?.prepare({ keyId: KEY_ID }, pre.read)).toEqual(payload);
    expect(pre.asked).toEqual([["pre-activation"]]);
    for (const state of ["active", "suspended", "deactivated", "compromised", "destroyed"] as const) {
      const { read } = readerWith(state);
      await expect(operationKind("key.activate")?.prepare({ keyId: KEY_ID }, read)).rejects.toMatchObject({
        code: "CONFLICT",
      });
    }
  });

  it("executes pre-activation → active, counts an already active key as done, and refuses any other state", async () => {
    const run = async (state: KeyState | null) => {
      const { ctx, activated } = contextWith(state);
      const result = await keyActivate.execute?.(ctx, { id: "op", payload });
      await result?.record?.({} as never, { id: "op-row" } as never, new Date());
      return { result, activated };
    };
    const first = await run("pre-activation");
    expect(first.result?.result).toEqual({ keyId: KEY_ID });
    expect(first.activated).toEqual([{ keyId: KEY_ID, operationId: "op-row" }]);
    // A repeat after it ran: done, not an error (the record counts it as already active).
    const repeat = await run("active");
    expect(repeat.result?.result).toEqual({ keyId: KEY_ID });
    for (const state of ["suspended", "deactivated", "compromised", "destroyed", null] as const) {
      await expect(run(state)).rejects.toBeInstanceOf(StepRefusedError);
    }
    await expect(run("compromised")).rejects.toThrow(
      "the key is compromised: only a key in pre-activation can be activated",
    );
    await expect(run(null)).rejects.toThrow(`the key ${KEY_ID} does not exist`);
  });
});

describe("key.create in pre-activation", () => {
  const single = { label: "Vault 9", curve: "secp256k1", tags: ["cold"], exportable: "never" } as const;

  it("is off unless asked: the payload, its words and the state made are as before", () => {
    const parsed = keyCreatePayloadSchema.parse(single);
    expect(Object.keys(parsed)).toEqual(["label", "curve", "tags", "exportable"]);
    expect(initialStateOf(parsed)).toBe("active");
    expect(keyCreate.describe(parsed).lines.map((l) => l.label)).toEqual([
      "Label",
      "Curve",
      "Tags",
      "Exportable",
    ]);
    expect(initialStateOf(keyCreatePayloadSchema.parse({ ...single, preActivation: false }))).toBe("active");
  });

  it("says so to approvers, for one key and for a batch, and makes the keys in pre-activation", () => {
    const one = keyCreatePayloadSchema.parse({ ...single, preActivation: true });
    expect(initialStateOf(one)).toBe("pre-activation");
    expect(keyCreate.describe(one).lines.at(-1)).toEqual({
      label: "Activation",
      value:
        "pre-activation: made in the HSM and its public key and addresses shown, but it cannot sign until a key.activate operation is approved",
    });
    const batch = keyCreatePayloadSchema.parse({
      ...single,
      label: "acct-{n}",
      batch: { count: 3, first: 1 },
      preActivation: true,
    });
    expect(initialStateOf(batch)).toBe("pre-activation");
    const lines = keyCreate.describe(batch).lines;
    expect(lines[0]?.value).toBe(
      "3 secp256k1 keys acct-1 … acct-3, tags cold, never exportable, in pre-activation",
    );
    expect(lines.at(-1)?.label).toBe("Activation");
    expect(keyCreatePayloadSchema.safeParse({ ...single, preActivation: "yes" }).success).toBe(false);
  });
});
