// One graph relationship per catalog relationship id and tenant (relationship uniqueness
// constraints need Neo4j 5.7+); its index finds the held state for the version guard.
CREATE CONSTRAINT headwater_relationship_key IF NOT EXISTS
FOR ()-[r:RELATIONSHIP]-() REQUIRE (r.tenant_id, r.id) IS UNIQUE
