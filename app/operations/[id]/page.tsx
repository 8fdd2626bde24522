import { requirePageRole } from "../../_components/require-role";
import { OperationView } from "./operation-view";

export default async function OperationPage({ params }: { params: Promise<{ id: string }> }) {
  await requirePageRole();
  const { id } = await params;
  return <OperationView operationId={id} />;
}
