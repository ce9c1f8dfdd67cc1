CREATE TYPE "public"."presence_status" AS ENUM('online', 'idle', 'away', 'dnd', 'offline');--> statement-breakpoint
CREATE TYPE "public"."user_role" AS ENUM('user', 'moderator', 'admin');--> statement-breakpoint
CREATE TYPE "public"."user_status" AS ENUM('active', 'disabled');--> statement-breakpoint
CREATE TYPE "public"."notification_action" AS ENUM('BORROW', 'RETURN', 'RENEWAL');--> statement-breakpoint
CREATE TYPE "public"."notification_delivery" AS ENUM('dm', 'channel');--> statement-breakpoint
CREATE TYPE "public"."notification_source" AS ENUM('http', 'queue');--> statement-breakpoint
CREATE TYPE "public"."notification_status" AS ENUM('queued', 'delivered', 'failed');--> statement-breakpoint
CREATE TABLE "users" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"username" text NOT NULL,
	"display_name" text NOT NULL,
	"email" text,
	"external_id" text,
	"role" "user_role" DEFAULT 'user' NOT NULL,
	"manager" boolean DEFAULT false NOT NULL,
	"status" "user_status" DEFAULT 'active' NOT NULL,
	"password_hash" text,
	"session_version" integer DEFAULT 1 NOT NULL,
	"presence_status" "presence_status" DEFAULT 'offline' NOT NULL,
	"idle_timeout_minutes" integer DEFAULT 5 NOT NULL,
	"profile_theme" text,
	"profile_photo_url" text,
	"avatar_url" text,
	"bio" text,
	"manager_token_enc" text,
	"deleted_at" timestamp with time zone,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "api_keys" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"name" text NOT NULL,
	"scopes" text[] NOT NULL,
	"key_hash" text NOT NULL,
	"key_prefix" text NOT NULL,
	"created_by" uuid,
	"last_used_at" timestamp with time zone,
	"revoked_at" timestamp with time zone,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "api_keys_key_hash_unique" UNIQUE("key_hash")
);
--> statement-breakpoint
CREATE TABLE "notification_keys" (
	"key" text PRIMARY KEY NOT NULL,
	"notification_id" uuid NOT NULL,
	"expires_at" timestamp with time zone NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "notifications" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"idempotency_key" text NOT NULL,
	"action" "notification_action" NOT NULL,
	"request_id" text NOT NULL,
	"user_id" text NOT NULL,
	"mattermost_username" text NOT NULL,
	"payload" jsonb NOT NULL,
	"source" "notification_source" DEFAULT 'http' NOT NULL,
	"status" "notification_status" DEFAULT 'queued' NOT NULL,
	"delivery" "notification_delivery",
	"mattermost_post_id" text,
	"mattermost_channel_id" text,
	"attempts" integer DEFAULT 0 NOT NULL,
	"last_error" text,
	"last_error_id" text,
	"last_attempt_at" timestamp with time zone,
	"delivered_at" timestamp with time zone,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "mattermost_recipients" (
	"mm_user_id" text PRIMARY KEY NOT NULL,
	"username" text NOT NULL,
	"dm_ready" boolean DEFAULT false NOT NULL,
	"dm_channel_id" text,
	"dm_ready_at" timestamp with time zone,
	"member_of_channel_id" text,
	"welcome_post_id" text,
	"welcome_sent_at" timestamp with time zone,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "api_keys" ADD CONSTRAINT "api_keys_created_by_users_id_fk" FOREIGN KEY ("created_by") REFERENCES "public"."users"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "users_username_key" ON "users" USING btree (lower("username"));--> statement-breakpoint
CREATE UNIQUE INDEX "users_external_id_key" ON "users" USING btree ("external_id");--> statement-breakpoint
CREATE INDEX "notification_keys_expires_idx" ON "notification_keys" USING btree ("expires_at");--> statement-breakpoint
CREATE INDEX "notifications_status_created_idx" ON "notifications" USING btree ("status","created_at");--> statement-breakpoint
CREATE INDEX "notifications_key_idx" ON "notifications" USING btree ("idempotency_key");--> statement-breakpoint
CREATE UNIQUE INDEX "mattermost_recipients_username_key" ON "mattermost_recipients" USING btree ("username");