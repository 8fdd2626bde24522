// /verify: checks an evidence bundle (keyward-evidence/v2, or an older v1, from /reports or `GET /reports/evidence.json`) in the
// reader's own browser. Public on purpose — a regulator on their own machine has no account here — and it must
// never send the files anywhere: verify-form.tsx reads them locally and runs server/audit/evidence/verify.ts,
// the same pure module as `npx keyward-verify`. No session, no tRPC, no fetch.
import type { Metadata } from "next";
import { VerifyForm } from "./verify-form";

export const metadata: Metadata = { title: "Verify a report · Keyward" };

export default function VerifyPage() {
  return (
    <div className="space-y-6">
      <div className="space-y-2">
        <h1 className="text-2xl font-semibold">Verify a report</h1>
        <p className="text-slate-700">
          Check an evidence bundle (the JSON file downloaded with a report) without trusting Keyward or
          whoever runs it. Your browser does all the work: the files you choose are read on this computer and{" "}
          <strong>never leave your browser</strong> — nothing is uploaded, and you may disconnect from the
          network once this page has loaded. You do not need an account.
        </p>
      </div>

      <section className="card space-y-2 text-sm text-slate-700" aria-labelledby="what-is-checked">
        <h2 id="what-is-checked" className="text-base font-medium text-slate-900">
          What is checked
        </h2>
        <ul className="list-disc space-y-1 pl-6">
          <li>
            <strong>Checkpoints</strong>: each one is signed by the audit key held in the HSM, and each later
            one extends the earlier one (a consistency proof), so no history was rewritten between them.
          </li>
          <li>
            <strong>Events</strong>: every audit event is recomputed from its content and proved to be in the
            signed log (one range proof for the whole period; older v1 bundles, a proof per event); events
            link in one unbroken chain with no gap, so none was changed, deleted or moved — nor cut off at the
            start or end of the period.
          </li>
          <li>
            <strong>Approvals</strong>: each operation&apos;s digest is recomputed, and every vote&apos;s
            hardware-token signature is checked against the approver&apos;s registered key and bound to that
            exact operation and decision.
          </li>
          <li>
            <strong>Token registrations</strong>: each approver&apos;s key is the one their token attested
            when it was registered (its attestation signature checked, and its certificate followed to
            Yubico&apos;s roots where it has one), so a key swapped in the bundle is caught. Tokens registered
            before Keyward kept their attestation are shown as not recorded.
          </li>
          <li>
            <strong>Policies</strong>: each policy document matches its recorded digest.
          </li>
          <li>
            <strong>A checkpoint you kept</strong> (optional): the bundle must extend it — the only way to
            catch a history that was rebuilt and signed again by the operator, who holds the HSM.
          </li>
          <li>
            <strong>The published audit key</strong> (optional): paste the key Keyward publishes (on its
            status page and at <code>/api/v1/audit/checkpoint</code>) so the bundle must be signed by it;
            otherwise compare the key shown with the result yourself.
          </li>
        </ul>
        <p>
          The same checks run on the command line: <code>npx keyward-verify bundle.json</code>{" "}
          <code>--verifier-key &apos;…&apos; --trusted-checkpoint old.txt</code>.
        </p>
      </section>

      <VerifyForm />
    </div>
  );
}
