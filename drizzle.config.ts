import { defineConfig } from "drizzle-kit";

// One pg-dialect schema and one migration history serve both PGlite and PostgreSQL.
export default defineConfig({
  dialect: "postgresql",
  schema: "./db/schema/index.ts",
  out: "./db/migrations",
});
