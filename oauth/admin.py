"""The Django admin's client page, without the secret.

DOT's ApplicationAdmin shows `client_secret` as an editable text field holding the
argon2 hash: a staff user could copy it for offline guessing or overwrite it with a
string that becomes the "hash". Secrets are set with `oauth client` (shown once), so
the admin shows only whether the client has one.
"""
from django.contrib import admin
from oauth2_provider.admin import ApplicationAdmin

from .models import Client

admin.site.unregister(Client)


@admin.register(Client)
class ClientAdmin(ApplicationAdmin):
    exclude = ("client_secret",)
    readonly_fields = (*ApplicationAdmin.readonly_fields, "has_secret", "hash_client_secret")

    @admin.display(boolean=True, description="has a client secret")
    def has_secret(self, obj):
        return bool(obj.client_secret)
