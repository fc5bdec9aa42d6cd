"""Email keys (accounts/emails.py): what lookups and uniqueness compare from now on.

Filled oldest account first. A later account whose key an older one already has keeps an empty key and
is reported (never merged): see accounts/collisions.py and `manage.py report_email_collisions`.
"""

from django.db import migrations, models


def fill_keys(apps, schema_editor):
    from accounts.collisions import assign_keys, describe

    User = apps.get_model("accounts", "User")
    users = User.objects.order_by("date_joined", "pk").only("pk", "email", "email_key")
    for collision in assign_keys(users.iterator(), lambda user: user.save(update_fields=["email_key"])):
        print(f"\n  email collision: {describe(collision)}")


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="user",
            name="email_key",
            field=models.CharField(editable=False, max_length=320, null=True, unique=True),
        ),
        migrations.RunPython(fill_keys, migrations.RunPython.noop, elidable=True),
    ]
