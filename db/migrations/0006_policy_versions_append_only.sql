-- Policy versions are append-only like the audit trail: a version once in force can never be changed or removed,
-- so every operation's recorded policy_version keeps meaning what it meant when the operation was judged.
CREATE OR REPLACE FUNCTION keyward_policy_versions_refuse_change() RETURNS trigger AS $$
BEGIN
  RAISE EXCEPTION 'policy_versions is append-only: % refused', TG_OP USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
--> statement-breakpoint
CREATE TRIGGER policy_versions_no_update_delete
  BEFORE UPDATE OR DELETE ON policy_versions
  FOR EACH ROW EXECUTE FUNCTION keyward_policy_versions_refuse_change();
--> statement-breakpoint
CREATE TRIGGER policy_versions_no_truncate
  BEFORE TRUNCATE ON policy_versions
  FOR EACH STATEMENT EXECUTE FUNCTION keyward_policy_versions_refuse_change();
