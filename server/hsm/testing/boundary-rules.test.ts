// The rule checker on synthetic files: each kind of violation is caught, and what the rules allow passes.
import { describe, expect, it } from "vitest";
import { checkBoundary, type SourceFile, specifiersOf, targetOf } from "./boundary-rules";

const file = (path: string, text: string): SourceFile => ({ path, text });
const kinds = (...files: SourceFile[]) => checkBoundary(files).map((v) => [v.kind, v.file, v.specifier]);

describe("specifiersOf", () => {
  it("finds static, re-export, side-effect, multi-line, type-only and dynamic imports and require", () => {
    const text = [
      'import a from "a";',
      'import type { B } from "b";',
      'export { c } from "c";',
      'export * from "d";',
      'import "e";',
      "import {\n  f,\n  g,\n} from 'f';",
      'const h = await import("h");',
      'const i = require("i");',
    ].join("\n");
    expect(specifiersOf(text).sort()).toEqual(["a", "b", "c", "d", "e", "f", "h", "i"]);
  });
});

describe("targetOf", () => {
  it("resolves relative and @/ paths to repository paths without extension or /index", () => {
    expect(targetOf("app/status/page.tsx", "@/server/hsm")).toBe("server/hsm");
    expect(targetOf("scripts/hsm-setup.ts", "../server/hsm/index.ts")).toBe("server/hsm");
    expect(targetOf("server/api/x.ts", "../hsm/pool/pool")).toBe("server/hsm/pool/pool");
    expect(targetOf("bench/hsm.ts", "pkcs11js")).toBe("pkcs11js");
    expect(targetOf("x.ts", "@scope/pkg/sub")).toBe("@scope/pkg");
  });
});

describe("checkBoundary", () => {
  it("allows the facades, the signer to the executor and checkpointer, ceremonies to scripts, testing to tests", () => {
    expect(
      kinds(
        file("server/api/routers/status.ts", 'import { hsmStatus } from "@/server/hsm";'),
        file("app/status/page.tsx", 'import type { HsmTokenView } from "@/server/hsm";'),
        file("server/operations/executor.ts", 'import { signer } from "@/server/hsm/signer";'),
        file("server/audit/checkpoint.ts", 'import { signer } from "../hsm/signer";'),
        file("server/audit/checkpointer.ts", 'import { signer } from "../hsm/signer.ts";'),
        file(
          "scripts/hsm-setup.ts",
          'import { shareBackupKek } from "../server/hsm/ceremonies/kek-sharing";',
        ),
        file("server/members/x.test.ts", 'import { createTestToken } from "../hsm/testing/test-token";'),
        file("e2e/x.spec.ts", 'import { createTestToken } from "../server/hsm/testing/test-token";'),
        file("bench/hsm.ts", 'import { HsmPool } from "../server/hsm/testing/bench";'),
        file("bench/hsm-raw.ts", 'import pkcs11js from "pkcs11js";'),
        file("server/hsm/pkcs11/pkcs11.ts", 'import "server-only";\nimport pkcs11js from "pkcs11js";'),
        file("server/hsm/pool/pool.ts", 'import { HsmError } from "../pkcs11/errors";'),
        file("server/hsm/keys/keys.integration.test.ts", 'import pkcs11js from "pkcs11js";'),
      ),
    ).toEqual([]);
  });

  it("refuses pkcs11js outside server/hsm, the bench exceptions named exactly", () => {
    expect(
      kinds(
        file("server/api/x.ts", 'import pkcs11js from "pkcs11js";'),
        file("bench/other.ts", 'const p = require("pkcs11js");'),
        file("scripts/x.mjs", 'await import("pkcs11js");'),
      ),
    ).toEqual([
      ["pkcs11js-outside-hsm", "server/api/x.ts", "pkcs11js"],
      ["pkcs11js-outside-hsm", "bench/other.ts", "pkcs11js"],
      ["pkcs11js-outside-hsm", "scripts/x.mjs", "pkcs11js"],
    ]);
  });

  it("refuses a server/hsm module that imports pkcs11js without server-only first", () => {
    expect(
      kinds(
        file("server/hsm/keys/x.ts", 'import pkcs11js from "pkcs11js";\nimport "server-only";'),
        file("server/hsm/keys/y.ts", 'import pkcs11js from "pkcs11js";'),
      ),
    ).toEqual([
      ["pkcs11js-not-server-only", "server/hsm/keys/x.ts", "pkcs11js"],
      ["pkcs11js-not-server-only", "server/hsm/keys/y.ts", "pkcs11js"],
    ]);
  });

  it("refuses deep imports of server/hsm from outside it, static, re-exported or dynamic", () => {
    expect(
      kinds(
        file("server/api/x.ts", 'import { HsmPool } from "@/server/hsm/pool/pool";'),
        file("app/y.tsx", 'export { hsmStatus } from "../server/hsm/status/token-status";'),
        file("server/boot.ts", 'const m = await import("./hsm/cluster/server-token-set");'),
        file("scripts/x.ts", 'import { sign } from "../server/hsm/keys/keys";'),
      ),
    ).toEqual([
      ["deep-import", "server/api/x.ts", "@/server/hsm/pool/pool"],
      ["deep-import", "app/y.tsx", "../server/hsm/status/token-status"],
      ["deep-import", "server/boot.ts", "./hsm/cluster/server-token-set"],
      ["deep-import", "scripts/x.ts", "../server/hsm/keys/keys"],
    ]);
  });

  it("refuses the signer anywhere but server/operations and server/audit/checkpoint*", () => {
    expect(
      kinds(
        file("server/api/routers/keys.ts", 'import { signer } from "@/server/hsm/signer";'),
        file("server/audit/trail.ts", 'import { signer } from "../hsm/signer";'),
        file("scripts/x.ts", 'import { signer } from "../server/hsm/signer";'),
      ),
    ).toEqual([
      ["signer-import", "server/api/routers/keys.ts", "@/server/hsm/signer"],
      ["signer-import", "server/audit/trail.ts", "../hsm/signer"],
      ["signer-import", "scripts/x.ts", "../server/hsm/signer"],
    ]);
  });

  it("refuses the ceremonies anywhere but scripts/", () => {
    expect(
      kinds(
        file("server/api/x.ts", 'import { shareBackupKek } from "@/server/hsm/ceremonies/kek-sharing";'),
        file("server/operations/x.ts", 'import { ensureBackupKek } from "../hsm/ceremonies/backup-kek";'),
      ),
    ).toEqual([
      ["ceremony-import", "server/api/x.ts", "@/server/hsm/ceremonies/kek-sharing"],
      ["ceremony-import", "server/operations/x.ts", "../hsm/ceremonies/backup-kek"],
    ]);
  });

  it("refuses server/hsm/testing in production code, inside server/hsm too", () => {
    expect(
      kinds(
        file("server/hsm/pool/pool.ts", 'import { TestPool } from "../testing/test-pool";'),
        file("server/api/x.ts", 'import { createTestToken } from "@/server/hsm/testing/test-token";'),
        file("scripts/x.mjs", 'import { x } from "../server/hsm/testing/bench.ts";'),
      ),
    ).toEqual([
      ["testing-import", "server/hsm/pool/pool.ts", "../testing/test-pool"],
      ["testing-import", "server/api/x.ts", "@/server/hsm/testing/test-token"],
      ["testing-import", "scripts/x.mjs", "../server/hsm/testing/bench.ts"],
    ]);
  });
});
