"""The portal's People page, under /t/<tenant_slug>/ (portal/urls.py includes it)."""
from django.urls import path

from . import people_pages

urlpatterns = [
    path("people/", people_pages.people_list, name="people"),
    path("people/add", people_pages.people_add, name="people-add"),
    path("people/<int:membership_id>/remove", people_pages.people_remove, name="people-remove"),
]
