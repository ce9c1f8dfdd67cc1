-- The API keeps ready Mattermost sessions in memory (apps/api/src/plugins/session-states.ts).
-- Any statement that could make one wrong notifies channel parley_session_state, with the
-- transaction's id as payload (so identical notifications of one transaction fold into one, and a
-- caller can tell its own); every API replica listens and empties its cache. Inserts of users, members or organisations cannot make a ready
-- session wrong, but upserts on the Mattermost tables fire as inserts, so those tables notify on everything.
CREATE FUNCTION parley_session_state_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('parley_session_state', pg_current_xact_id()::text);
  RETURN NULL;
END
$$;
--> statement-breakpoint
CREATE TRIGGER session_state_changed AFTER UPDATE OF status, deleted_at, session_version OR DELETE OR TRUNCATE ON users
  FOR EACH STATEMENT EXECUTE FUNCTION parley_session_state_changed();
--> statement-breakpoint
CREATE TRIGGER session_state_changed AFTER DELETE OR TRUNCATE ON organizations
  FOR EACH STATEMENT EXECUTE FUNCTION parley_session_state_changed();
--> statement-breakpoint
CREATE TRIGGER session_state_changed AFTER UPDATE OR DELETE OR TRUNCATE ON org_members
  FOR EACH STATEMENT EXECUTE FUNCTION parley_session_state_changed();
--> statement-breakpoint
CREATE TRIGGER session_state_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON mattermost_accounts
  FOR EACH STATEMENT EXECUTE FUNCTION parley_session_state_changed();
--> statement-breakpoint
CREATE TRIGGER session_state_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON mattermost_teams
  FOR EACH STATEMENT EXECUTE FUNCTION parley_session_state_changed();
--> statement-breakpoint
CREATE TRIGGER session_state_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON mattermost_team_members
  FOR EACH STATEMENT EXECUTE FUNCTION parley_session_state_changed();
