-- name: insert_audit
INSERT INTO audits (tenant_id, actor_user_id, actor_key_id, action, entity_type, entity_id,
                    before, after, ip, user_agent, request_id)
VALUES (%(tenant_id)s, %(actor_user_id)s, %(actor_key_id)s, %(action)s, %(entity_type)s,
        %(entity_id)s, %(before)s, %(after)s, %(ip)s, %(user_agent)s, %(request_id)s)

-- name: insert_outbox_event
INSERT INTO outbox (tenant_id, entity_type, entity_id, entity_version, event_type, payload)
VALUES (%(tenant_id)s, %(entity_type)s, %(entity_id)s, %(entity_version)s, %(event_type)s,
        %(payload)s)

-- name: list_audits
SELECT id, actor_user_id, actor_key_id, action, entity_type, entity_id, before, after,
       host(ip) AS ip, user_agent, request_id, created_at
  FROM audits
 WHERE (%(entity_types)s::text[] IS NULL OR entity_type = ANY(%(entity_types)s::text[]))
   AND (%(entity_id)s::text IS NULL OR entity_id = %(entity_id)s)
   AND (%(actor_user_id)s::bigint IS NULL OR actor_user_id = %(actor_user_id)s)
   AND (%(since)s::timestamptz IS NULL OR created_at >= %(since)s)
   AND (%(until)s::timestamptz IS NULL OR created_at < %(until)s)
   AND (%(after_id)s::bigint IS NULL OR id < %(after_id)s)
 ORDER BY id DESC
 LIMIT %(limit)s

-- name: insert_audits
-- Many audit rows in one statement, in the given order; before and after are JSON text or NULL.
-- Binary text arrays: a text-format array literal would need every quote of the JSON escaped.
INSERT INTO audits (tenant_id, actor_user_id, actor_key_id, action, entity_type, entity_id,
                    before, after, ip, user_agent, request_id)
SELECT %(tenant_id)s::uuid, %(actor_user_id)s::bigint, %(actor_key_id)s::bigint, r.action,
       r.entity_type, r.entity_id, r.before::json, r.after::json, %(ip)s::inet,
       %(user_agent)s::text, %(request_id)s::text
  FROM unnest(%(actions)b::text[], %(entity_types)b::text[], %(entity_ids)b::text[],
              %(befores)b::text[], %(afters)b::text[])
       WITH ORDINALITY AS r(action, entity_type, entity_id, before, after, ord)
 ORDER BY r.ord

-- name: insert_outbox_events
-- Many outbox events in one statement, in the given order; payloads are JSON text.
INSERT INTO outbox (tenant_id, entity_type, entity_id, entity_version, event_type, payload)
SELECT %(tenant_id)s::uuid, r.entity_type, r.entity_id, r.entity_version, r.event_type,
       r.payload::json
  FROM unnest(%(entity_types)b::text[], %(entity_ids)b::bigint[], %(entity_versions)b::integer[],
              %(event_types)b::text[], %(payloads)b::text[])
       WITH ORDINALITY AS r(entity_type, entity_id, entity_version, event_type, payload, ord)
 ORDER BY r.ord
