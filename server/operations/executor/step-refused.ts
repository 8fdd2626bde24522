// A refusal an execute step knows is final (the key it must act on is gone or in a state the operation can
// never apply to): repeating the step cannot change it, so the executor fails the operation with this reason.
// Free of server-only imports: kinds (which forms import) throw it.
export class StepRefusedError extends Error {
  override name = "StepRefusedError";
}
