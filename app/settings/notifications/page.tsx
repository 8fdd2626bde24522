// A member's own notification settings: where e-mail goes and which events they receive. Says so plainly when
// e-mail is off (no SMTP settings): the choices are kept and used once it is on.
import { requirePageRole } from "../../_components/require-role";
import { NotificationSettingsForm } from "./settings-form";

export default async function NotificationSettingsPage() {
  const { session } = await requirePageRole();
  const isAdmin = session.member.roles.includes("admin");
  return (
    <div className="space-y-6">
      <h1 className="text-2xl font-semibold">Notifications</h1>
      <p className="max-w-2xl text-slate-700">
        Keyward can e-mail you when an operation awaits your vote (with its deadline), when a delay starts on
        an operation you voted on or may veto (with the time it ends), and when an operation you proposed is
        executed, fails, is rejected, expires or is cancelled. A message never holds an operation back.
      </p>
      <NotificationSettingsForm />
      {isAdmin && (
        <p className="text-sm">
          <a className="text-indigo-700 underline" href="/settings/webhooks">
            Webhook endpoints and the delivery log
          </a>{" "}
          (admins)
        </p>
      )}
    </div>
  );
}
