"""The confirmation step every destructive action of the portal takes first, whichever
app's page it is on (stations, OAuth clients, contracts): one page, one rule."""
from django.shortcuts import render


def ask_first(request, tenant, question: str, consequence: str, *, action_url: str, cancel_url: str,
              title: str):
    """None once the form carried `confirmed=yes`, else the page asking `question`, whose
    form posts the same fields back to `action_url` (so it works without JavaScript)."""
    if request.POST.get("confirmed") == "yes":
        return None
    fields = [(k, v) for k, v in request.POST.lists() if k not in ("csrfmiddlewaretoken", "confirmed")]
    return render(request, "confirm.html", {
        "tenant": tenant, "title": title, "action_url": action_url, "cancel_url": cancel_url,
        "fields": [(k, v) for k, values in fields for v in values],
        "question": question, "consequence": consequence})
