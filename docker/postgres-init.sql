-- Parley's own database is POSTGRES_DB; Mattermost gets its own database and role.
CREATE ROLE mmuser LOGIN PASSWORD 'mmuser-password';
CREATE DATABASE mattermost OWNER mmuser;
