"""Read-only admin pages for Plug & Charge records. Contracts change only through their
audited transitions (`pnc contract revoke`, the CSR endpoint), and a CA's sealed key and
stored CRL never reach a page."""
from django.contrib import admin

from .models import CertificateAuthority, Contract, IssuedCertificate


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Contract)
class ContractAdmin(ReadOnlyAdmin):
    list_display = ("emaid", "tenant", "state", "user", "client_id_text", "starts_at", "ends_at")
    list_filter = ("state", "tenant")
    search_fields = ("emaid", "user__username", "client_id_text")


@admin.register(CertificateAuthority)
class CertificateAuthorityAdmin(ReadOnlyAdmin):
    list_display = ("subject", "tenant", "level", "issuing", "not_after")
    list_filter = ("tenant", "level")
    exclude = ("private_key_sealed", "crl_der")


@admin.register(IssuedCertificate)
class IssuedCertificateAdmin(ReadOnlyAdmin):
    list_display = ("serial_number", "tenant", "contract", "not_after", "revoked_at")
    list_filter = ("tenant",)
    search_fields = ("serial_number", "contract__emaid")
