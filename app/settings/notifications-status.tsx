// The status page's notifications card: whether e-mail is on (the SMTP server without its password) or off.
import { api } from "@/server/api/caller";

export async function NotificationsStatus() {
  const { email } = await (await api()).notifications.status();
  return (
    <section className="card space-y-2" aria-labelledby="notify-heading" data-testid="notifications-status">
      <h2 id="notify-heading" className="text-lg font-medium">
        Notifications
      </h2>
      {email.on ? (
        <p className="text-sm text-slate-700">
          E-mail notifications are on, through <code>{email.server}</code> from <code>{email.from}</code>.
        </p>
      ) : (
        <p className="text-sm text-amber-800">{email.reason}</p>
      )}
      <p className="text-xs text-slate-500">
        Webhooks run either way.{" "}
        <a className="text-indigo-700 underline" href="/settings/webhooks">
          Endpoints and the delivery log
        </a>
      </p>
    </section>
  );
}
