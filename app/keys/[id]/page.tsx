import { notFound } from "next/navigation";
import { z } from "zod";
import { api } from "@/server/api/caller";
import { requirePageRole } from "../../_components/require-role";
import { BackupPanel } from "./backup-panel";
import { DestructionPanel } from "./destruction-panel";
import { LifecycleActions } from "./lifecycle-actions";
import { RotationSchedule } from "./rotation-schedule";
import { RotationSweeps } from "./rotation-sweeps";
import { KeyAddresses } from "./key-addresses";
import { KeyView } from "./key-view";

export default async function KeyPage({ params }: { params: Promise<{ id: string }> }) {
  const { session } = await requirePageRole();
  const { id } = await params;
  if (!z.string().uuid().safeParse(id).success) notFound();
  const caller = await api();
  const { key } = await caller.keys.get({ keyId: id }).catch((e: unknown) => {
    if (e instanceof Error && "code" in e && e.code === "NOT_FOUND") notFound();
    throw e;
  });
  const canPropose = session.member.roles.some((r) => r === "operator" || r === "admin");
  return (
    <div className="space-y-6">
      <KeyView keyId={key.id} canPropose={canPropose} />
      <KeyAddresses curve={key.curve} publicKey={key.publicKey} state={key.state} />
      {/* Propose forms of the other lifecycle kinds, each in its own component, go below this line. */}
      <DestructionPanel keyId={key.id} roles={session.member.roles} />
      <LifecycleActions keyId={key.id} canPropose={canPropose} />
      <RotationSchedule keyId={key.id} />
      <RotationSweeps keyId={key.id} />
      <BackupPanel keyId={key.id} />
    </div>
  );
}
