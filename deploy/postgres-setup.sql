-- PostgreSQL for Loa: one role that owns one database, nothing more.
-- Run as the postgres superuser, e.g.
--   sudo -u postgres psql -v role=loa -v password="$LOA_DB_PASSWORD" -v database=loa -f postgres-setup.sql
-- then put  LOA_DATABASE_URL=postgresql://loa:PASSWORD@127.0.0.1:5432/loa  in /etc/loa/loa.env.
\set ON_ERROR_STOP on
CREATE ROLE :"role" LOGIN PASSWORD :'password';
CREATE DATABASE :"database" OWNER :"role" ENCODING 'UTF8' TEMPLATE template0;
REVOKE ALL ON DATABASE :"database" FROM PUBLIC;
\connect :"database"
-- PostgreSQL 15 and later give PUBLIC nothing on the public schema; older ones do.
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
ALTER SCHEMA public OWNER TO :"role";
