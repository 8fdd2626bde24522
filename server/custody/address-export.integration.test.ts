// The deposit-address CSV for 10,000 keys on PGlite (and PostgreSQL when TEST_DATABASE_URL is set): streamed in
// batches (many chunks, not one string), one line per key and chain its curve serves, newest first, the keys
// list's filters applied, formulas defused and fields quoted.
import { secp256k1 } from "@noble/curves/secp256k1";
import { ed25519 } from "@noble/curves/ed25519";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Db } from "@/db/client";
import { keys } from "@/db/schema";
import { createTestDatabase, type TestDatabase, testEngines } from "@/server/testing/test-db";
import { addressCsvStream, csvField } from "./address-export";
import { addressesOf } from "./addresses";

const networks = { bitcoin: "testnet", ethereum: { chainId: 11155111 }, solana: "devnet" } as const;
const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");
const secpKeys = Array.from({ length: 16 }, (_, i) =>
  hex(secp256k1.getPublicKey(Uint8Array.from([...new Uint8Array(31), i + 1]), false)),
);
const edKeys = Array.from({ length: 16 }, (_, i) =>
  hex(ed25519.getPublicKey(new Uint8Array(32).fill(i + 1))),
);
const T0 = Date.parse("2026-12-01T00:00:00.000Z");

async function readAll(stream: ReadableStream<Uint8Array>) {
  const reader = stream.getReader();
  const decoder = new TextDecoder();
  let text = "";
  let chunks = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks++;
    text += decoder.decode(value, { stream: true });
  }
  return { text, chunks };
}

describe("csvField", () => {
  it("defuses formulas and quotes what needs quotes", () => {
    expect(csvField("vault-1")).toBe("vault-1");
    expect(csvField('=HYPERLINK("http://x","y")')).toBe(`"'=HYPERLINK(""http://x"",""y"")"`);
    for (const f of ["+1", "-1", "@SUM(A1)", "\tx", "\rx"]) expect(csvField(f).startsWith(`"'`)).toBe(true);
    expect(csvField("a,b")).toBe('"a,b"');
    expect(csvField('say "hi"')).toBe('"say ""hi"""');
    expect(csvField("two\nlines")).toBe('"two\nlines"');
  });
});

describe.each(testEngines())("address CSV for 10,000 keys on %s", (engine) => {
  let database: TestDatabase | undefined;
  let db: Db;
  beforeAll(async () => {
    database = await createTestDatabase(engine);
    db = database.db;
    // 8,000 secp256k1 (Bitcoin + Ethereum), 1,500 Ed25519 (Solana), 500 P-256 (none); every tenth suspended.
    const rows = Array.from({ length: 10_000 }, (_, i) => {
      const curve = i < 8000 ? "secp256k1" : i < 9500 ? "ed25519" : "p256";
      const publicKey =
        curve === "secp256k1"
          ? secpKeys[i % 16]
          : curve === "ed25519"
            ? edKeys[i % 16]
            : `04${"11".repeat(64)}`;
      return {
        label: i === 42 ? '=HYPERLINK("http://evil","open")' : i === 43 ? 'Vault, "north"' : `account-${i}`,
        curve,
        tags: i % 2 === 0 ? ["customer", "even"] : ["customer"],
        state: (i % 10 === 0 ? "suspended" : "active") as "active" | "suspended",
        hsmRef: `csv-test-${i}`,
        publicKey: publicKey ?? "",
        exportable: "never" as const,
        createdAt: new Date(T0 + i * 1000),
      };
    });
    for (let i = 0; i < rows.length; i += 1000) await db.insert(keys).values(rows.slice(i, i + 1000));
  }, 300_000);
  afterAll(async () => {
    await database?.drop();
  });

  it("streams every key's addresses, newest first, one line per key and chain", async () => {
    const started = performance.now();
    let done: { keys: number; lines: number } | null = null;
    const { text, chunks } = await readAll(
      addressCsvStream(db, { filters: {}, networks, onDone: (c) => (done = c) }),
    );
    const ms = performance.now() - started;
    const lines = text.split("\r\n").filter((l) => l !== "");
    expect(lines[0]).toBe("key_id,label,curve,state,tags,chain,network,address");
    expect(lines).toHaveLength(1 + 8000 * 2 + 1500);
    expect(done).toEqual({ keys: 10_000, lines: 17_500 });
    // The header, then one chunk per batch of 500 keys (the newest batch, all P-256, gives none): streamed.
    expect(chunks).toBe(20);
    // Newest first: the last key made (an Ed25519 one, i = 9499) leads, after the P-256 ones (which add nothing).
    const first = lines[1]?.split(",") ?? [];
    expect(first.slice(1, 8)).toEqual([
      "account-9499",
      "ed25519",
      "active",
      "customer",
      "solana",
      "devnet",
      first[7],
    ]);
    expect(first[7]).toBe(
      addressesOf({ curve: "ed25519", publicKey: edKeys[9499 % 16] ?? "" }, networks)[0]?.address,
    );
    const evil = lines.filter((l) => l.includes("HYPERLINK"));
    expect(evil).toHaveLength(2);
    for (const l of evil) expect(l).toContain(`"'=HYPERLINK(""http://evil"",""open"")"`);
    expect(text).toContain('"Vault, ""north"""');
    const btc = lines.find((l) => l.includes(",account-7999,"));
    expect(btc).toContain(",bitcoin,testnet,tb1q");
    console.log(
      `address CSV on ${engine}: 10,000 keys, ${lines.length - 1} lines, ${chunks} chunks, ${ms.toFixed(0)} ms`,
    );
  }, 300_000);

  it("applies the keys list's filters", async () => {
    const { text } = await readAll(
      addressCsvStream(db, { filters: { state: "suspended", curve: "secp256k1" }, networks }),
    );
    const lines = text.split("\r\n").filter((l) => l !== "");
    expect(lines).toHaveLength(1 + 800 * 2);
    expect(lines.slice(1).every((l) => l.includes(",secp256k1,suspended,"))).toBe(true);
    const tagged = await readAll(
      addressCsvStream(db, { filters: { tag: "even", curve: "ed25519" }, networks }),
    );
    expect(tagged.text.split("\r\n").filter((l) => l !== "")).toHaveLength(1 + 750);
    const searched = await readAll(addressCsvStream(db, { filters: { search: "account-7999" }, networks }));
    expect(searched.text.split("\r\n").filter((l) => l !== "")).toHaveLength(1 + 2);
  }, 300_000);
});
