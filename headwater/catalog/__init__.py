"""The authoritative store: Postgres schema, migrations, repositories and domain rules."""
