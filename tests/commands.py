"""Running a management command in-process and capturing what it prints."""
import io

from django.core.management import call_command


def run_cmd(*args) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()
