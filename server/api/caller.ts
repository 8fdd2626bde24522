// The server-side caller for server components: same procedures, same access rules, no HTTP hop.
import "server-only";
import { cache } from "react";
import { requestContext } from "./request-context";
import { createCaller } from "./root";

export const api = cache(async () => createCaller(await requestContext()));
