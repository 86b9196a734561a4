"""`manage.py idtag add|list|set|remove`: the tokens a tenant authorises."""

from django.core.management.base import BaseCommand, CommandError
from django.db import IntegrityError, transaction
from django.utils.dateparse import parse_datetime

from csms.models import IdTag, IdTagStatus
from lib.timestamps import rfc3339
from tenants.cli import dump_json, tenant_or_error


def tag_summary(tag: IdTag) -> dict:
    return {"id_tag": tag.id_tag, "status": tag.status,
            "effective_status": tag.effective_status(),
            "expires_at": rfc3339(tag.expires_at),
            "parent_id_tag": tag.parent_id_tag or None}


class Command(BaseCommand):
    help = "Manage the id tags (RFID cards, tokens) a tenant authorises."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        for name in ("add", "set"):
            p = sub.add_parser(name, help=f"{name} an id tag")
            p.add_argument("tenant")
            p.add_argument("id_tag")
            p.add_argument("--status", choices=IdTagStatus.values,
                           default=IdTagStatus.ACCEPTED if name == "add" else None)
            p.add_argument("--expires", help="ISO 8601 date-time with offset, or 'never'")
            p.add_argument("--parent", help="parent (group) id tag")
            p.add_argument("--json", action="store_true")
        lst = sub.add_parser("list", help="list a tenant's id tags")
        lst.add_argument("tenant")
        lst.add_argument("--json", action="store_true")
        rm = sub.add_parser("remove", help="remove an id tag")
        rm.add_argument("tenant")
        rm.add_argument("id_tag")
        rm.add_argument("--json", action="store_true")

    def handle(self, *args, action, **opts):
        tenant = tenant_or_error(opts["tenant"])
        tags = IdTag.objects.for_tenant(tenant)
        if action == "list":
            rows = [tag_summary(t) for t in tags]
            if opts["json"]:
                self.stdout.write(dump_json(rows))
            for r in [] if opts["json"] else rows:
                self.stdout.write(f"{r['id_tag']}\t{r['effective_status']}\t{r['expires_at'] or '-'}")
            if not rows and not opts["json"]:
                self.stdout.write(f"no id tags in {tenant.slug}")
            return
        if len(opts["id_tag"]) > 36 or not opts["id_tag"]:
            raise CommandError("an id tag is 1-36 characters")
        existing = tags.filter(id_tag__iexact=opts["id_tag"]).first()
        if action == "remove":
            if existing is None:
                raise CommandError(f"no id tag {opts['id_tag']!r} in {tenant.slug}")
            summary = tag_summary(existing)
            existing.delete()
            self.stdout.write(dump_json({**summary, "removed": True}) if opts["json"]
                              else f"{summary['id_tag']}\tremoved")
            return
        if action == "add" and existing is not None:
            raise CommandError(f"id tag {existing.id_tag!r} already exists in {tenant.slug}")
        if action == "set" and existing is None:
            raise CommandError(f"no id tag {opts['id_tag']!r} in {tenant.slug}")
        tag = existing or IdTag(tenant=tenant, id_tag=opts["id_tag"])
        if opts["status"]:
            tag.status = opts["status"]
        if opts["expires"]:
            tag.expires_at = _expiry(opts["expires"])
        if opts["parent"] is not None:
            tag.parent_id_tag = opts["parent"][:36]
        try:
            with transaction.atomic():
                tag.save()
        except IntegrityError:
            raise CommandError(f"id tag {opts['id_tag']!r} already exists in {tenant.slug}") from None
        summary = tag_summary(tag)
        self.stdout.write(dump_json(summary) if opts["json"]
                          else f"{summary['id_tag']}\t{summary['effective_status']}")


def _expiry(text: str):
    if text == "never":
        return None
    value = parse_datetime(text)
    if value is None or value.tzinfo is None:
        raise CommandError("--expires must be an ISO 8601 date-time with a UTC offset, or 'never'")
    return value
