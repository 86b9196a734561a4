"""A jti is spent once on the platform, not once per tenant (issue 8, item 12).

Rows spent at several tenants before this change would violate the new constraint: all
but the earliest are dropped first. Keeping one is enough — the (issuer, jti) stays
spent everywhere until it expires, which is what the rule now says.
"""
from django.db import migrations, models
from django.db.models import Count, Min


def keep_one_row_per_jti(apps, schema_editor):
    UsedAssertion = apps.get_model("oauth", "UsedAssertion")
    duplicated = (UsedAssertion.objects.values("issuer", "jti").annotate(n=Count("pk"), first=Min("pk"))
                  .filter(n__gt=1))
    for row in duplicated:
        UsedAssertion.objects.filter(issuer=row["issuer"], jti=row["jti"]).exclude(pk=row["first"]).delete()


class Migration(migrations.Migration):

    dependencies = [
        ('oauth', '0004_client_authorization_details_types'),
        ('tenants', '0003_driver_role'),
    ]

    operations = [
        migrations.RemoveConstraint(
            model_name='usedassertion',
            name='jti_single_use',
        ),
        migrations.RunPython(keep_one_row_per_jti, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name='usedassertion',
            constraint=models.UniqueConstraint(fields=('issuer', 'jti'), name='jti_single_use_on_the_platform'),
        ),
    ]
