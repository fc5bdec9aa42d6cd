"""Accounts move onto django-allauth (docs/decisions.md D31).

- Every existing account gets its address as a verified primary EmailAddress: they signed up before
  verification existed, and must not be locked out of their keys by it.
- django-axes' tables go (its lockouts moved to allauth's rate limits); on a database that never had
  them this does nothing.
"""

from django.db import migrations

AXES_TABLES = ("axes_accessattempt", "axes_accessfailurelog", "axes_accesslog", "axes_accessattemptexpiration")


def verify_existing(apps, schema_editor):
    User = apps.get_model("accounts", "User")
    EmailAddress = apps.get_model("account", "EmailAddress")
    have = set(EmailAddress.objects.values_list("user_id", flat=True))
    EmailAddress.objects.bulk_create(
        EmailAddress(user_id=user.pk, email=user.email.lower(), verified=True, primary=True)
        for user in User.objects.exclude(pk__in=have).only("pk", "email").iterator()
    )


def drop_axes(apps, schema_editor):
    tables = set(schema_editor.connection.introspection.table_names())
    for table in AXES_TABLES:
        if table in tables:
            schema_editor.execute(f"DROP TABLE {schema_editor.quote_name(table)}")
    schema_editor.execute("DELETE FROM django_migrations WHERE app = 'axes'")


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0002_email_key"),
        ("account", "0009_emailaddress_unique_primary_email"),
    ]

    operations = [
        migrations.RunPython(verify_existing, migrations.RunPython.noop, elidable=True),
        migrations.RunPython(drop_axes, migrations.RunPython.noop, elidable=True),
    ]
