// Admins' webhook endpoints and the notification delivery log (states, attempts, errors).
import { Forbidden } from "../../_components/forbidden";
import { requirePageRole } from "../../_components/require-role";
import { DeliveryLog } from "./delivery-log";
import { WebhookEndpoints } from "./webhook-endpoints";

export default async function WebhooksPage() {
  const { allowed } = await requirePageRole("admin");
  if (!allowed) return <Forbidden what="Webhook endpoints and the delivery log are for admins." />;
  return (
    <div className="space-y-6">
      <h1 className="text-2xl font-semibold">Webhooks and deliveries</h1>
      <p className="max-w-2xl text-slate-700">
        Each endpoint receives the events it subscribes to as JSON, signed the Standard Webhooks way (headers
        webhook-id, webhook-timestamp, webhook-signature; HMAC-SHA256 with the endpoint&apos;s secret). Failed
        deliveries are retried after 1, 2, 4 … minutes, 8 tries in all; an operation never waits for them.
      </p>
      <WebhookEndpoints />
      <DeliveryLog />
    </div>
  );
}
