# Teams (issue 16): the admin role, a public code per membership, invitations and the audit log.

import django.db.models.deletion
import django.utils.timezone
import uuid
from django.conf import settings
from django.db import migrations, models


def give_each_membership_a_code(apps, schema_editor):
    Membership = apps.get_model("accounts", "Membership")
    for membership in Membership.objects.filter(code__isnull=True).only("pk"):
        membership.code = uuid.uuid4()
        membership.save(update_fields=["code"])


class Migration(migrations.Migration):

    dependencies = [
        ('accounts', '0003_verified_addresses_and_no_axes'),
    ]

    operations = [
        # Existing rows each need their own code: add it empty, fill it, then make it unique.
        migrations.AddField(
            model_name='membership',
            name='code',
            field=models.UUIDField(null=True, editable=False),
        ),
        migrations.RunPython(give_each_membership_a_code, migrations.RunPython.noop),
        migrations.AlterField(
            model_name='membership',
            name='code',
            field=models.UUIDField(default=uuid.uuid4, editable=False, unique=True),
        ),
        migrations.AlterField(
            model_name='membership',
            name='role',
            field=models.CharField(choices=[('owner', 'Owner'), ('admin', 'Admin'), ('member', 'Member')], default='member', max_length=10),
        ),
        migrations.CreateModel(
            name='AuditEntry',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('action', models.CharField(choices=[('invitation_sent', 'Invitation sent'), ('invitation_resent', 'Invitation re-sent'), ('invitation_accepted', 'Invitation accepted'), ('invitation_revoked', 'Invitation revoked'), ('member_joined', 'Member joined'), ('member_removed', 'Member removed'), ('member_left', 'Member left'), ('role_changed', 'Role changed'), ('ownership_transferred', 'Ownership transferred'), ('workspace_created', 'Workspace created'), ('key_added', 'Key added'), ('key_replaced', 'Key replaced'), ('key_deleted', 'Key deleted'), ('budget_changed', 'Budget changed')], max_length=32)),
                ('subject', models.CharField(blank=True, max_length=300)),
                ('created_at', models.DateTimeField(default=django.utils.timezone.now)),
                ('actor', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                ('workspace', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='audit_entries', to='accounts.workspace')),
            ],
            options={
                'verbose_name_plural': 'audit entries',
                'indexes': [models.Index(fields=['workspace', '-created_at'], name='audit_workspace_newest')],
            },
        ),
        migrations.CreateModel(
            name='Invitation',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('code', models.UUIDField(default=uuid.uuid4, editable=False, unique=True)),
                ('email', models.EmailField(max_length=254, verbose_name='email address')),
                ('email_key', models.CharField(editable=False, max_length=320)),
                ('role', models.CharField(choices=[('owner', 'Owner'), ('admin', 'Admin'), ('member', 'Member')], default='member', max_length=10)),
                ('created_at', models.DateTimeField(default=django.utils.timezone.now)),
                ('expires_at', models.DateTimeField()),
                ('token_hash', models.CharField(editable=False, max_length=64, unique=True)),
                ('accepted_at', models.DateTimeField(blank=True, null=True)),
                ('revoked_at', models.DateTimeField(blank=True, null=True)),
                ('accepted_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                ('invited_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                ('workspace', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='invitations', to='accounts.workspace')),
            ],
            options={
                'indexes': [models.Index(fields=['workspace', 'email_key'], name='invitation_workspace_email')],
            },
        ),
    ]
