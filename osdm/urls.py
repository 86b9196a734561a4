from django.urls import re_path

from . import views

urlpatterns = [
    re_path(r"^tenants/(?P<tenant>[a-z0-9-]+)/osdm/identity$", views.ConsumerIdentity.as_view(),
            name="osdm-identity"),
]
