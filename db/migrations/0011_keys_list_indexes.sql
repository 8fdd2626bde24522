CREATE INDEX "keys_created_at_id_idx" ON "keys" USING btree ("created_at","id");--> statement-breakpoint
CREATE INDEX "keys_tags_idx" ON "keys" USING gin ("tags");