"""Page-numbered lists of many rows: the page's primary keys first, then its rows.

A deep page (`?page=500` of 100,000 stations) is an OFFSET: the database walks every row
before it. Walked with the page's joins and wide columns (a station with its credential),
that was 110 ms of PostgreSQL's time at page 500; walking the ordered primary keys alone
took 22 ms (bench/portal_pages.py, docs/performance.md). So the page's keys are read
first, with the list's filters and ordering, and then only those rows with their joins.
"""
from django.core.paginator import Page, Paginator


class KeysFirstPaginator(Paginator):
    """Django's Paginator (count, page numbers, `get_page`) over a QuerySet, reading each
    page in two queries: its keys, by the QuerySet's filters and order, then its rows."""

    def _get_page(self, object_list, number, paginator) -> Page:
        keys = list(object_list.values_list("pk", flat=True))
        found = {row.pk: row for row in self.object_list.filter(pk__in=keys)} if keys else {}
        return Page([found[k] for k in keys if k in found], number, paginator)
