"""The database itself refuses to change or remove audit rows (PostgreSQL only).

The model and its queryset already refuse; this also stops raw SQL, other clients and bugs. It is no
defence against the table's owner, who can disable the trigger: in production run the application
with a role that is not the owner and has only SELECT and INSERT on this table.

TRUNCATE is left out on purpose: `manage.py flush` and Django's transactional tests truncate every
table, and a trigger would make both fail; the application never truncates, and privileges cover it.
"""

from django.db import migrations

FUNCTION = "marrowfind_audit_append_only"
TRIGGER = "cases_auditevent_append_only"


def create_trigger(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    table = schema_editor.quote_name(apps.get_model("cases", "AuditEvent")._meta.db_table)
    schema_editor.execute(
        f"""
        CREATE OR REPLACE FUNCTION {FUNCTION}() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'audit events are append-only: % of row % refused', TG_OP, OLD.id
                USING ERRCODE = 'insufficient_privilege';
        END;
        $$
        """,
        params=None,  # no placeholders: the % in RAISE is PL/pgSQL's, not the driver's
    )
    schema_editor.execute(
        f"CREATE TRIGGER {TRIGGER} BEFORE UPDATE OR DELETE ON {table} "
        f"FOR EACH ROW EXECUTE FUNCTION {FUNCTION}()"
    )


def drop_trigger(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    table = schema_editor.quote_name(apps.get_model("cases", "AuditEvent")._meta.db_table)
    schema_editor.execute(f"DROP TRIGGER IF EXISTS {TRIGGER} ON {table}")
    schema_editor.execute(f"DROP FUNCTION IF EXISTS {FUNCTION}()")


class Migration(migrations.Migration):
    dependencies = [("cases", "0001_initial")]

    operations = [migrations.RunPython(create_trigger, drop_trigger, elidable=False)]
