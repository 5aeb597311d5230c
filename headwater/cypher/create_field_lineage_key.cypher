// One graph relationship per field-lineage id and tenant; its index serves the version guard.
CREATE CONSTRAINT headwater_field_lineage_key IF NOT EXISTS
FOR ()-[e:FIELD_LINEAGE]-() REQUIRE (e.tenant_id, e.id) IS UNIQUE
