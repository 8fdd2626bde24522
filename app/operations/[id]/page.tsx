import { requirePageRole } from "../../_components/require-role";
import { OperationView } from "./operation-view";

export default async function OperationPage({ params }: { params: Promise<{ id: string }> }) {
  const { session } = await requirePageRole();
  const { id } = await params;
  // Admins may cancel an operation Keyward proposed itself (re-checked by the server).
  return <OperationView operationId={id} isAdmin={session.member.roles.includes("admin")} />;
}
