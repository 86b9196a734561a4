"""The admin's PnC pages: readable by staff, never editable, never a sealed key."""
from django.contrib.auth import get_user_model
from django.test import Client as DjangoClient

from pnc.models import CertificateAuthority


def test_admin_pages_show_records_but_no_key_material(pki):
    get_user_model().objects.create_superuser("root", password="pw-for-admin-test")
    browser = DjangoClient()
    browser.login(username="root", password="pw-for-admin-test")
    sub2 = CertificateAuthority.objects.get(issuing=True)
    for url in ("/admin/pnc/contract/", "/admin/pnc/certificateauthority/", "/admin/pnc/issuedcertificate/",
                f"/admin/pnc/certificateauthority/{sub2.pk}/change/"):
        response = browser.get(url)
        assert response.status_code == 200, url
        page = response.content.decode()
        assert sub2.private_key_sealed not in page and "PRIVATE KEY" not in page
    assert browser.get("/admin/pnc/contract/add/").status_code == 403
    assert browser.post(f"/admin/pnc/certificateauthority/{sub2.pk}/delete/", {"post": "yes"}).status_code == 403
    assert CertificateAuthority.objects.filter(pk=sub2.pk).exists()
