-- The API-key lookup that every request makes, in PL/pgSQL. A SQL function that cannot be inlined
-- (it is SECURITY DEFINER with a search_path of its own) is planned again on every call; PL/pgSQL
-- keeps its statement's plan for the session. A lookup with its round trips went from ~605 to
-- ~430-480 us here (3,000 calls each way). Signature, owner, privileges and search path stay:
-- CREATE OR REPLACE keeps the owner and the grants.

CREATE OR REPLACE FUNCTION headwater_lookup_api_key(key_prefix text)
    RETURNS TABLE (key_id bigint, tenant_id uuid, tenant_status text, user_id bigint,
                   user_active boolean, roles text[], key_hash bytea, revoked_at timestamptz,
                   expires_at timestamptz)
    LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
    BEGIN
        RETURN QUERY
        SELECT k.id, k.tenant_id, t.status, u.id, u.active, u.roles, k.key_hash, k.revoked_at,
               k.expires_at
          FROM api_keys k
          JOIN users u ON u.id = k.user_id
          JOIN tenants t ON t.id = k.tenant_id
         WHERE k.prefix = key_prefix;
    END
    $$;
