// Builds the tRPC context for a real request: the server's database and the live session, if any.
import "server-only";
import { currentSession } from "@/server/auth/next-auth";
import { database } from "@/server/db";
import { createContext } from "./trpc";

export async function requestContext() {
  const [{ db, engine }, session] = await Promise.all([database(), currentSession()]);
  return createContext({ db, engine, session });
}
