// `npm test`: the same preparation as `npm start`, then every suite — lint and types, unit and integration
// (real SoftHSM tokens, PGlite, and PostgreSQL when TEST_DATABASE_URL is set), and the Playwright browser
// suite on Debian's Chromium. Ends with one line "N passed, N failed" counting every test.
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { ensureBuild, ensureDependencies, ensureHsm, ROOT, run, step } from "./prepare.mjs";

const bin = (name) => path.join(ROOT, "node_modules", ".bin", name);
const reports = mkdtempSync(path.join(tmpdir(), "keyward-test-"));
const totals = { passed: 0, failed: 0, skipped: 0 };
const failures = [];

function suite(name, fn) {
  step(name);
  try {
    fn();
  } catch (e) {
    failures.push(`${name}: ${e instanceof Error ? e.message : e}`);
  }
}

function countVitest(file) {
  if (!existsSync(file)) return;
  const r = JSON.parse(readFileSync(file, "utf8"));
  totals.passed += r.numPassedTests;
  totals.failed += r.numFailedTests;
  totals.skipped += r.numPendingTests + r.numTodoTests;
}

function countPlaywright(file) {
  if (!existsSync(file)) return;
  const s = JSON.parse(readFileSync(file, "utf8")).stats;
  totals.passed += s.expected + s.flaky;
  totals.failed += s.unexpected;
  totals.skipped += s.skipped;
}

try {
  ensureDependencies();
  // The HSM preparation is checked against a throw-away data folder: tests make their own tokens.
  await ensureHsm(path.join(reports, "prepare-check"));
  ensureBuild();
} catch (e) {
  console.error(`\nPreparation failed: ${e instanceof Error ? e.message : e}`);
  process.exit(1);
}

if (!process.env.TEST_DATABASE_URL) {
  console.log("\nTEST_DATABASE_URL is not set: integration tests run on PGlite only (set it to add PostgreSQL).");
}

suite("Lint (biome), types (tsc), and server-only code kept out of browser bundles", () => {
  run(bin("biome"), ["lint", "."]);
  run(bin("tsc"), ["--noEmit", "-p", "."]);
  run(process.execPath, [path.join(ROOT, "scripts", "check-bundles.mjs")]);
});

suite("Unit and integration tests (vitest)", () => {
  const out = path.join(reports, "vitest.json");
  try {
    run(bin("vitest"), ["run", "--reporter=default", "--reporter=json", `--outputFile.json=${out}`]);
  } finally {
    countVitest(out);
  }
});

suite("Browser tests (Playwright on /usr/bin/chromium)", () => {
  const out = path.join(reports, "playwright.json");
  try {
    run(bin("playwright"), ["test", "--reporter=list,json"], {
      env: { ...process.env, PLAYWRIGHT_JSON_OUTPUT_NAME: out },
    });
  } finally {
    countPlaywright(out);
  }
});

rmSync(reports, { recursive: true, force: true });
console.log("");
for (const f of failures) console.log(`FAILED ${f}`);
console.log(`${totals.passed} passed, ${totals.failed} failed, ${totals.skipped} skipped`);
process.exit(failures.length > 0 || totals.failed > 0 ? 1 : 0);
