# Secrets move from a plain JSON column to a Fernet token (connectors/secretbox.py) plus the list of
# their names. Reversible: going back decrypts into the JSON column (with the keys configured then).

from django.db import migrations, models


def encrypt_existing(apps, schema_editor):
    from connectors import secretbox

    Connection = apps.get_model("connectors", "Connection")
    for row in Connection._default_manager.using(schema_editor.connection.alias).all().iterator():
        clean = {k: v for k, v in (row.secrets or {}).items() if v is not None}
        row.secrets_ciphertext = secretbox.encrypt(clean)
        row.secret_names = sorted(k for k, v in clean.items() if v != "")
        row.save(update_fields=["secrets_ciphertext", "secret_names"])


def decrypt_existing(apps, schema_editor):
    from connectors import secretbox

    Connection = apps.get_model("connectors", "Connection")
    for row in Connection._default_manager.using(schema_editor.connection.alias).all().iterator():
        # SecretsUnreadable stops the reversal (and its transaction) rather than losing a credential.
        row.secrets = secretbox.decrypt(row.secrets_ciphertext)
        row.save(update_fields=["secrets"])


class Migration(migrations.Migration):
    dependencies = [
        ("connectors", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="connection",
            name="secret_names",
            field=models.JSONField(blank=True, default=list, editable=False),
        ),
        migrations.AddField(
            model_name="connection",
            name="secrets_ciphertext",
            field=models.TextField(blank=True, default="", editable=False),
        ),
        migrations.RunPython(encrypt_existing, decrypt_existing),
        migrations.RemoveField(
            model_name="connection",
            name="secrets",
        ),
    ]
