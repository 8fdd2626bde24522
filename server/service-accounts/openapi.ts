// The OpenAPI 3.1 document of the HTTP API, generated (zod-openapi) from the very zod schemas the route
// handlers validate with: the withdrawal kind's input schema, the Idempotency-Key header, the status and problem
// schemas. Served at /api/v1/openapi.json; made once per process.
import { createDocument, type ZodOpenApiResponsesObject } from "zod-openapi";
import { z } from "zod";
import { withdrawalInputSchema } from "@/server/operations/kinds/withdrawal-schema";
import {
  idempotencyKeySchema,
  problemSchema,
  withdrawalIdSchema,
  withdrawalStatusSchema,
} from "./api-schemas";

const problemContent = { "application/problem+json": { schema: problemSchema } };

const refusals = (codes: Record<string, string>): ZodOpenApiResponsesObject =>
  Object.fromEntries(Object.entries(codes).map(([s, d]) => [s, { description: d, content: problemContent }]));

const common = {
  "401": "No key, an unknown key, or a revoked or expired one (WWW-Authenticate: Bearer).",
  "403": "The key lacks the scope this request needs.",
  "429": "The account's requests per minute are spent; Retry-After says when to try again.",
};

const statusContent = { "application/json": { schema: withdrawalStatusSchema } };

let made: ReturnType<typeof createDocument> | undefined;

export function openApiDocument(): ReturnType<typeof createDocument> {
  made ??= createDocument({
    openapi: "3.1.0",
    info: {
      title: "Keyward HTTP API",
      version: "1",
      description:
        "Service accounts propose withdrawals and read their status. A withdrawal is an operation like any " +
        "other: the policy in force judges it (small amounts under a velocity limit may need no vote, large " +
        "ones wait for the quorum), and the executor builds, checks and signs it. Errors are RFC 9457 problem " +
        "details naming the field at fault.",
    },
    components: {
      securitySchemes: {
        serviceKey: {
          type: "http",
          scheme: "bearer",
          description: "A service account key (kw_…), shown once when an admin creates the account.",
        },
      },
    },
    security: [{ serviceKey: [] }],
    paths: {
      "/api/v1/withdrawals": {
        post: {
          operationId: "proposeWithdrawal",
          summary: "Propose a withdrawal (scope withdrawals:propose)",
          requestParams: { header: z.object({ "Idempotency-Key": idempotencyKeySchema }) },
          requestBody: {
            required: true,
            content: {
              "application/json": { schema: withdrawalInputSchema.meta({ id: "WithdrawalInput" }) },
            },
          },
          responses: {
            "201": {
              description:
                "Proposed: pending its votes, or already approved by an automatic rule. A repeat with the same " +
                "Idempotency-Key and body returns this same answer (Idempotent-Replayed: true).",
              content: statusContent,
            },
            ...refusals({
              "400": "The body or the Idempotency-Key header is invalid; `field` names which.",
              ...common,
              "409": "The Idempotency-Key was used with another body, or the policy refuses the withdrawal.",
              "413": "The body is larger than 64 KiB.",
            }),
          },
        },
      },
      "/api/v1/withdrawals/{id}": {
        get: {
          operationId: "getWithdrawal",
          summary: "A withdrawal's status (scope withdrawals:read)",
          requestParams: { path: z.object({ id: withdrawalIdSchema }) },
          responses: {
            "200": { description: "The withdrawal as it is now.", content: statusContent },
            ...refusals({
              "400": "The id is not a UUID.",
              ...common,
              "404": "No withdrawal with this id was proposed by this account.",
            }),
          },
        },
      },
    },
  });
  return made;
}
