CREATE TYPE "public"."upload_scope" AS ENUM('photo', 'avatar');--> statement-breakpoint
CREATE TYPE "public"."org_role" AS ENUM('member', 'admin');--> statement-breakpoint
CREATE TYPE "public"."mattermost_channel_status" AS ENUM('pending', 'active', 'archived');--> statement-breakpoint
CREATE TYPE "public"."mattermost_channel_type" AS ENUM('O', 'P');--> statement-breakpoint
CREATE TABLE "uploads" (
	"id" uuid PRIMARY KEY NOT NULL,
	"owner_id" uuid NOT NULL,
	"scope" "upload_scope" NOT NULL,
	"url" text NOT NULL,
	"path" text NOT NULL,
	"content_type" text NOT NULL,
	"size_bytes" integer NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "org_members" (
	"org_id" uuid NOT NULL,
	"user_id" uuid NOT NULL,
	"role" "org_role" DEFAULT 'member' NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "org_members_pkey" PRIMARY KEY("org_id","user_id")
);
--> statement-breakpoint
CREATE TABLE "organizations" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"name" text NOT NULL,
	"slug" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "mattermost_accounts" (
	"user_id" uuid PRIMARY KEY NOT NULL,
	"mm_user_id" text NOT NULL,
	"mm_username" text NOT NULL,
	"mm_email" text NOT NULL,
	"token_enc" text,
	"token_key_id" text,
	"token_id" text,
	"token_issued_at" timestamp with time zone,
	"token_expires_at" timestamp with time zone,
	"token_invalid_at" timestamp with time zone,
	"synced_at" timestamp with time zone,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "mattermost_team_members" (
	"org_id" uuid NOT NULL,
	"user_id" uuid NOT NULL,
	"mm_team_id" text NOT NULL,
	"mm_user_id" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "mattermost_team_members_pkey" PRIMARY KEY("org_id","user_id")
);
--> statement-breakpoint
CREATE TABLE "mattermost_teams" (
	"org_id" uuid PRIMARY KEY NOT NULL,
	"mm_team_id" text NOT NULL,
	"team_name" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "mattermost_channels" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"org_id" uuid NOT NULL,
	"name" text NOT NULL,
	"display_name" text NOT NULL,
	"type" "mattermost_channel_type" NOT NULL,
	"status" "mattermost_channel_status" DEFAULT 'pending' NOT NULL,
	"mm_channel_id" text,
	"archived_at" timestamp with time zone,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "uploads" ADD CONSTRAINT "uploads_owner_id_users_id_fk" FOREIGN KEY ("owner_id") REFERENCES "public"."users"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "org_members" ADD CONSTRAINT "org_members_org_id_organizations_id_fk" FOREIGN KEY ("org_id") REFERENCES "public"."organizations"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "org_members" ADD CONSTRAINT "org_members_user_id_users_id_fk" FOREIGN KEY ("user_id") REFERENCES "public"."users"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "mattermost_accounts" ADD CONSTRAINT "mattermost_accounts_user_id_users_id_fk" FOREIGN KEY ("user_id") REFERENCES "public"."users"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "mattermost_team_members" ADD CONSTRAINT "mattermost_team_members_org_id_organizations_id_fk" FOREIGN KEY ("org_id") REFERENCES "public"."organizations"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "mattermost_team_members" ADD CONSTRAINT "mattermost_team_members_user_id_users_id_fk" FOREIGN KEY ("user_id") REFERENCES "public"."users"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "mattermost_teams" ADD CONSTRAINT "mattermost_teams_org_id_organizations_id_fk" FOREIGN KEY ("org_id") REFERENCES "public"."organizations"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "mattermost_channels" ADD CONSTRAINT "mattermost_channels_org_id_organizations_id_fk" FOREIGN KEY ("org_id") REFERENCES "public"."organizations"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "uploads_url_key" ON "uploads" USING btree ("url");--> statement-breakpoint
CREATE INDEX "uploads_owner_idx" ON "uploads" USING btree ("owner_id");--> statement-breakpoint
CREATE INDEX "org_members_user_idx" ON "org_members" USING btree ("user_id");--> statement-breakpoint
CREATE UNIQUE INDEX "organizations_slug_key" ON "organizations" USING btree (lower("slug"));--> statement-breakpoint
CREATE UNIQUE INDEX "mattermost_accounts_mm_user_id_key" ON "mattermost_accounts" USING btree ("mm_user_id");--> statement-breakpoint
CREATE UNIQUE INDEX "mattermost_teams_mm_team_id_key" ON "mattermost_teams" USING btree ("mm_team_id");--> statement-breakpoint
CREATE UNIQUE INDEX "mattermost_teams_team_name_key" ON "mattermost_teams" USING btree ("team_name");--> statement-breakpoint
CREATE UNIQUE INDEX "mattermost_channels_org_name_key" ON "mattermost_channels" USING btree ("org_id","name");--> statement-breakpoint
CREATE UNIQUE INDEX "mattermost_channels_mm_channel_id_key" ON "mattermost_channels" USING btree ("mm_channel_id");