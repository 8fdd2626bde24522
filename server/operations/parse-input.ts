// Input parsed inside a domain function (a kind's payload, a policy document) is refused like router input:
// BAD_INPUT naming the field as the form knows it.
import { ZodError } from "zod";
import { AppError } from "@/server/errors";

/** Parses `value` with `parse`; a refusal names the field as the form knows it (<prefix>.<field>). */
export function parseInput<T>(prefix: string, parse: (value: unknown) => T, value: unknown): T {
  try {
    return parse(value);
  } catch (e) {
    if (!(e instanceof ZodError)) throw e;
    const issue = e.issues[0];
    const field = [prefix, ...(issue?.path ?? [])].join(".");
    throw new AppError("BAD_INPUT", `${field}: ${issue?.message ?? "invalid"}`, { field });
  }
}
