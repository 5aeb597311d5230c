-- name: insert_tenant
INSERT INTO tenants (id, slug, name, config)
VALUES (%(id)s, %(slug)s, %(name)s, %(config)s)
RETURNING id, slug, name, status, config, version, created_at, updated_at

-- name: get_tenant
SELECT id, slug, name, status, config, version, created_at, updated_at FROM tenants

-- name: get_tenant_for_update
SELECT id, slug, name, status, config, version, created_at, updated_at FROM tenants FOR UPDATE

-- name: update_tenant
UPDATE tenants SET name = %(name)s, status = %(status)s, config = %(config)s,
                   version = version + 1
RETURNING id, slug, name, status, config, version, created_at, updated_at

-- name: list_tenants
SELECT id, slug, name, status, created_at FROM headwater_list_tenants()

-- name: insert_user
INSERT INTO users (tenant_id, email, name, roles)
VALUES (headwater_tenant(), %(email)s, %(name)s, %(roles)s)
RETURNING id, email, name, roles, active, version, created_at, updated_at, last_login_at

-- name: get_user
SELECT id, email, name, roles, active, version, created_at, updated_at, last_login_at
  FROM users WHERE id = %(id)s

-- name: get_user_for_update
SELECT id, email, name, roles, active, version, created_at, updated_at, last_login_at
  FROM users WHERE id = %(id)s FOR UPDATE

-- name: get_user_by_email
SELECT id FROM users WHERE lower(email) = lower(%(email)s)

-- name: update_user
UPDATE users SET name = %(name)s, roles = %(roles)s, active = %(active)s, version = version + 1
 WHERE id = %(id)s
RETURNING id, email, name, roles, active, version, created_at, updated_at, last_login_at

-- name: list_users
SELECT id, email, name, roles, active, version, created_at, updated_at, last_login_at
  FROM users
 WHERE (%(after_id)s::bigint IS NULL OR id > %(after_id)s)
 ORDER BY id LIMIT %(limit)s

-- name: insert_api_key
INSERT INTO api_keys (tenant_id, user_id, name, prefix, key_hash, expires_at)
VALUES (headwater_tenant(), %(user_id)s, %(name)s, %(prefix)s, %(key_hash)s, %(expires_at)s)
RETURNING id, user_id, name, prefix, created_at, last_used_at, expires_at, revoked_at

-- name: list_api_keys
SELECT id, user_id, name, prefix, created_at, last_used_at, expires_at, revoked_at
  FROM api_keys
 WHERE (%(user_id)s::bigint IS NULL OR user_id = %(user_id)s)
 ORDER BY id

-- name: revoke_api_key
UPDATE api_keys SET revoked_at = COALESCE(revoked_at, now())
 WHERE id = %(id)s
RETURNING id, user_id, name, prefix, created_at, last_used_at, expires_at, revoked_at

-- name: lookup_api_key
-- Also makes the key's tenant the transaction's tenant, which saves every request a round trip:
-- a key that then fails a check raises, and the transaction rolls back with the setting.
SELECT key_id, tenant_id, tenant_status, user_id, user_active, roles, key_hash, revoked_at,
       expires_at, set_config('headwater.tenant_id', tenant_id::text, true) AS tenant_set
  FROM headwater_lookup_api_key(%(prefix)s)

-- name: touch_api_key
SELECT headwater_touch_api_key(%(key_id)s)

-- name: check_runtime_role
-- What a runtime connection's role may do: refused if it is a superuser, bypasses row-level
-- security, owns tables, or is not a member of the group it serves as.
SELECT r.rolname, r.rolsuper, r.rolbypassrls,
       (SELECT count(*) FROM pg_class c
         WHERE c.relowner = r.oid AND c.relnamespace = 'public'::regnamespace) AS owned,
       pg_has_role(current_user, %(group)s, 'USAGE') AS is_member,
       (SELECT max(version) FROM schema_migrations) AS schema_version
  FROM pg_roles r
 WHERE r.rolname = current_user
