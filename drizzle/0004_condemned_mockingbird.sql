CREATE TYPE "public"."org_sync_status" AS ENUM('queued', 'running', 'succeeded', 'partial', 'failed', 'interrupted');--> statement-breakpoint
CREATE TYPE "public"."org_sync_trigger" AS ENUM('manual', 'membership', 'schedule');--> statement-breakpoint
CREATE TABLE "org_sync_runs" (
	"id" uuid PRIMARY KEY NOT NULL,
	"org_id" uuid NOT NULL,
	"trigger" "org_sync_trigger" NOT NULL,
	"status" "org_sync_status" DEFAULT 'queued' NOT NULL,
	"requested_by" uuid,
	"attempts" integer DEFAULT 0 NOT NULL,
	"started_at" timestamp with time zone,
	"finished_at" timestamp with time zone,
	"synced" integer DEFAULT 0 NOT NULL,
	"added" integer DEFAULT 0 NOT NULL,
	"removed" integer DEFAULT 0 NOT NULL,
	"unchanged" integer DEFAULT 0 NOT NULL,
	"provisioned" integer DEFAULT 0 NOT NULL,
	"failed" integer DEFAULT 0 NOT NULL,
	"failures" jsonb DEFAULT '[]'::jsonb NOT NULL,
	"error_code" text,
	"error" text,
	"mattermost_calls" integer DEFAULT 0 NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "org_sync_runs" ADD CONSTRAINT "org_sync_runs_org_id_organizations_id_fk" FOREIGN KEY ("org_id") REFERENCES "public"."organizations"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "org_sync_runs_org_created_idx" ON "org_sync_runs" USING btree ("org_id","created_at");--> statement-breakpoint
CREATE UNIQUE INDEX "org_sync_runs_one_running_key" ON "org_sync_runs" USING btree ("org_id") WHERE status = 'running';