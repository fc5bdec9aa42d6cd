"""On PostgreSQL, a generation's key must belong to the generation's workspace and provider.

Django cannot declare a foreign key over several columns, so this is SQL: keys_providerkey gets a unique
constraint on (id, workspace_id, provider) — id alone is already unique, this only gives the foreign
key a target — and generation_generation a foreign key (provider_key_id, workspace_id, provider) to it.
A row pointing at another workspace's key, or at a key of another provider, cannot be inserted or
updated, and a key that generations use cannot be moved to another workspace or provider. A generation
without a key (NULL provider_key_id, MATCH SIMPLE) is not checked; deleting a key still sets its
generations' key to NULL first (Django's SET_NULL), so that keeps working.

SQLite gets nothing here: the worker's own check (generation.pipeline._run_claimed) refuses such a row
on every database. Existing rows that already break the rule stop the migration with their codes
instead of being changed silently: only a hand-written row can, and an operator should look at it.
"""

from django.db import migrations

CHECK = "generation_key_in_own_workspace"
TARGET = "keys_providerkey_id_workspace_provider"

FORWARD = [
    f"ALTER TABLE keys_providerkey ADD CONSTRAINT {TARGET} UNIQUE (id, workspace_id, provider)",
    f"""ALTER TABLE generation_generation ADD CONSTRAINT {CHECK}
        FOREIGN KEY (provider_key_id, workspace_id, provider)
        REFERENCES keys_providerkey (id, workspace_id, provider)""",
]
BACKWARD = [
    f"ALTER TABLE generation_generation DROP CONSTRAINT IF EXISTS {CHECK}",
    f"ALTER TABLE keys_providerkey DROP CONSTRAINT IF EXISTS {TARGET}",
]

MISMATCHED = """
    SELECT g.code FROM generation_generation g JOIN keys_providerkey k ON k.id = g.provider_key_id
    WHERE k.workspace_id <> g.workspace_id OR k.provider <> g.provider ORDER BY g.id LIMIT 20
"""


class PostgreSQLOnly(migrations.RunSQL):
    """RunSQL that runs on PostgreSQL only (the state is unchanged either way)."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            self._refuse_mismatched_rows(schema_editor)
            super().database_forwards(app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            super().database_backwards(app_label, schema_editor, from_state, to_state)

    @staticmethod
    def _refuse_mismatched_rows(schema_editor):
        with schema_editor.connection.cursor() as cursor:
            cursor.execute(MISMATCHED)
            codes = [str(row[0]) for row in cursor.fetchall()]
        if codes:
            raise RuntimeError(
                "These generations point at a provider key of another workspace or provider (a row "
                "written by hand?): " + ", ".join(codes) + ". Look at them, then detach their key with "
                "UPDATE generation_generation SET provider_key_id = NULL WHERE code IN (…) "
                "and run the migration again."
            )


class Migration(migrations.Migration):
    dependencies = [
        ("generation", "0008_reconciliation"),
        ("keys", "0003_usage_keys"),
    ]

    operations = [PostgreSQLOnly(sql=FORWARD, reverse_sql=BACKWARD)]
