// The key's deposit addresses, derived from its public key for the networks Keyward runs on (server/custody/
// addresses.ts: by curve; never stored), each with a QR code drawn on the server and a copy button. A P-256
// key has none, and the page says why. Rendered on the server: the QR codes need no script. A key in
// pre-activation shows its addresses too (funds may be sent ahead of time), saying that it cannot sign yet.
import { chainConfig } from "@/server/chains/current";
import { addressQrSvg } from "@/server/custody/address-qr";
import { addressesOf } from "@/server/custody/addresses";
import { CopyButton } from "../../_components/copy-button";

export async function KeyAddresses({
  curve,
  publicKey,
  state,
}: {
  curve: string;
  publicKey: string;
  state?: string;
}) {
  const { networks, rpc } = chainConfig();
  let addresses: ReturnType<typeof addressesOf>;
  try {
    addresses = addressesOf({ curve, publicKey }, networks);
  } catch {
    return (
      <section className="card space-y-2" aria-label="Addresses">
        <h2 className="text-lg font-semibold">Addresses</h2>
        <p className="text-sm text-red-800">
          The recorded public key is not a valid {curve} key, so no address is shown. Check the key against
          the HSM above before sending anything to it.
        </p>
      </section>
    );
  }
  const shown = await Promise.all(addresses.map(async (a) => ({ ...a, svg: await addressQrSvg(a.address) })));
  return (
    <section className="card space-y-3" aria-label="Addresses">
      <h2 className="text-lg font-semibold">Addresses</h2>
      {shown.length === 0 ? (
        <p className="text-sm text-slate-700">
          A {curve} key has no address on Bitcoin, Ethereum or Solana: it signs, but holds no funds.
        </p>
      ) : (
        <>
          <p className="text-sm text-slate-600">
            Derived from the public key for the networks Keyward runs on; send only on that network.
            {rpc.ethereum === null && rpc.solana === null
              ? " No chain node is configured, so balances are not shown here."
              : ""}
          </p>
          {state === "pre-activation" && (
            <p className="text-sm text-amber-900" data-testid="addresses-pre-activation">
              The key is in pre-activation: funds sent here arrive, but nothing can move them until a
              key.activate operation is approved and the key becomes active.
            </p>
          )}
          <ul className="grid gap-4 sm:grid-cols-2">
            {shown.map((a) => (
              <li key={a.chain} className="flex gap-3" data-testid={`address-${a.chain}`}>
                <div
                  className="h-44 w-44 shrink-0 bg-white"
                  role="img"
                  aria-label={`QR code of the ${a.label} address`}
                  // The SVG is qrcode's own output for the canonical address (no user-supplied markup).
                  // biome-ignore lint/security/noDangerouslySetInnerHtml: server-drawn SVG of a validated address
                  dangerouslySetInnerHTML={{ __html: a.svg }}
                />
                <div className="min-w-0 space-y-2">
                  <p className="text-sm font-medium">{a.label}</p>
                  <p
                    className="break-all font-mono text-sm select-all"
                    data-testid={`address-${a.chain}-text`}
                  >
                    {a.address}
                  </p>
                  <CopyButton value={a.address} label={`Copy the ${a.label} address`} />
                </div>
              </li>
            ))}
          </ul>
        </>
      )}
    </section>
  );
}
