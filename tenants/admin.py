from django.contrib import admin

from .models import Membership, Tenant


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0


@admin.register(Tenant)
class TenantAdmin(admin.ModelAdmin):
    list_display = ["slug", "name", "operates_charging_stations", "is_emsp", "is_osdm_provider"]
    search_fields = ["slug", "name"]
    inlines = [MembershipInline]
