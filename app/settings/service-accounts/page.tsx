// Admins' service accounts: the machines that propose withdrawals over the HTTP API, with their keys' scopes,
// expiry and rate; created here (the key shown once) and revoked here.
import { Forbidden } from "../../_components/forbidden";
import { requirePageRole } from "../../_components/require-role";
import { ServiceAccounts } from "./service-accounts";

export default async function ServiceAccountsPage() {
  const { allowed } = await requirePageRole("admin");
  if (!allowed) return <Forbidden what="Service accounts are for admins." />;
  return (
    <div className="space-y-6">
      <h1 className="text-2xl font-semibold">Service accounts</h1>
      <div className="max-w-2xl space-y-2 text-slate-700">
        <p>
          A service account lets a machine — an exchange&apos;s backend — propose withdrawals and read their
          status over the HTTP API (
          <a className="text-indigo-700 underline" href="/api/v1/openapi.json">
            OpenAPI document
          </a>
          ). Its withdrawals are judged by the same policy as a person&apos;s: a rule may approve small
          amounts under a velocity limit with no vote; larger ones wait for the approvers&apos; quorum.
        </p>
        <p>
          Each account has one API key. Keyward stores only a hash of it: the key is shown once, when you
          create the account. Every key expires (at most a year) and can be revoked at once; a revoked key is
          refused from its next request on.
        </p>
      </div>
      <ServiceAccounts />
    </div>
  );
}
